//! The schema: the three roots, the core as shared data, and the limits.

use async_graphql::{Schema, SchemaBuilder};
use quire_core::ports::Store;
use quire_core::service::Quire;

use crate::limits::{DocumentLimits, GraphqlConfig};
use crate::mutation::MutationRoot;
use crate::query::QueryRoot;
use crate::socket::Recheck;
use crate::subscription::SubscriptionRoot;

pub type QuireSchema<S> = Schema<QueryRoot<S>, MutationRoot<S>, SubscriptionRoot<S>>;

/// The parser's own bound on nesting, well above any allowed depth so that depth errors are
/// the ones clients see, and low enough to keep parsing off the edge of the stack.
const PARSER_RECURSION_LIMIT: usize = 256;

/// The schema for HTTP requests, whose documents the transport checks against `limits`
/// itself before executing them.
pub fn build<S: Store>(quire: Quire<S>, config: &GraphqlConfig) -> QuireSchema<S> {
    finish(builder(quire, config), config)
}

/// The schema for WebSocket connections: the document limits as an extension, and every
/// operation run as its caller is now ([`Recheck`]).
pub fn build_for_subscriptions<S: Store>(
    quire: Quire<S>,
    config: &GraphqlConfig,
) -> QuireSchema<S> {
    let builder = builder(quire, config)
        .extension(limits(config))
        .extension(Recheck::<S>::default());
    finish(builder, config)
}

/// The document limits of `config`.
pub fn limits(config: &GraphqlConfig) -> DocumentLimits {
    DocumentLimits {
        max_depth: config.max_depth,
        max_aliases: config.max_aliases,
        // Generous beside the complexity limit (which counts the same fields, with page sizes),
        // but checked before the executor's validation walks every inlined field.
        max_fields: config.max_complexity.saturating_mul(4).max(1000),
        introspection: config.introspection,
    }
}

fn builder<S: Store>(
    quire: Quire<S>,
    config: &GraphqlConfig,
) -> SchemaBuilder<QueryRoot<S>, MutationRoot<S>, SubscriptionRoot<S>> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .data(quire)
    .limit_complexity(config.max_complexity)
    .limit_recursive_depth(PARSER_RECURSION_LIMIT.max(config.max_depth * 2))
}

/// Finishes a schema, without introspection where it is turned off.
fn finish<S: Store>(
    builder: SchemaBuilder<QueryRoot<S>, MutationRoot<S>, SubscriptionRoot<S>>,
    config: &GraphqlConfig,
) -> QuireSchema<S> {
    if config.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The schema in SDL, the contract committed as `schema.graphql`.
pub fn sdl<S: Store>() -> String {
    Schema::build(
        QueryRoot::<S>::default(),
        MutationRoot::<S>::default(),
        SubscriptionRoot::<S>::default(),
    )
    .finish()
    .sdl()
}
