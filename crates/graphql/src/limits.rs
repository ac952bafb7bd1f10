//! Limits that hold before any resolver runs (OWASP's GraphQL guidance). Complexity is the
//! schema's own check; depth and aliases are checked here on the parsed document, before
//! validation starts. Depth leaves introspection out: its cost is fixed and it can be turned
//! off, and GraphiQL's introspection query is deeper than any query an application needs.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use crate::error::code;

/// Settings of the GraphQL endpoint.
#[derive(Debug, Clone)]
pub struct GraphqlConfig {
    /// Deepest nesting of fields a query may have.
    pub max_depth: usize,
    /// Largest cost a query may have: one per field, times the page size under lists.
    pub max_complexity: usize,
    /// Most aliases a document may use.
    pub max_aliases: usize,
    /// Most operations one batched request may carry.
    pub max_batch: usize,
    /// Whether the schema can be introspected (GraphiQL needs it).
    pub introspection: bool,
    /// A request still running after this is answered with a `TIMEOUT` error.
    pub timeout: std::time::Duration,
    /// Largest WebSocket message a subscriber may send (HTTP bodies have their own limit).
    pub max_message_bytes: usize,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 500,
            max_aliases: 30,
            max_batch: 10,
            introspection: true,
            timeout: std::time::Duration::from_secs(10),
            max_message_bytes: 1024 * 1024,
        }
    }
}

/// Refuses documents nested too deep or with too many aliases, and introspection where it
/// is turned off (which the executor would otherwise answer with a silent null).
#[derive(Clone, Copy)]
pub struct DocumentLimits {
    pub max_depth: usize,
    pub max_aliases: usize,
    /// Most fields a document may select once its fragments are inlined.
    pub max_fields: usize,
    pub introspection: bool,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn refusal(message: String, error_code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", error_code);
    error
}

fn limit_error(message: String) -> ServerError {
    refusal(message, code::LIMIT_EXCEEDED)
}

impl DocumentLimits {
    /// Refuses a parsed document that breaks a limit, before validation or execution.
    pub fn check(&self, document: &ExecutableDocument) -> ServerResult<()> {
        if !self.introspection && introspects(document) {
            return Err(refusal(
                "introspection is turned off on this server".to_owned(),
                code::GRAPHQL_VALIDATION_FAILED,
            ));
        }
        let aliases = count_aliases(document);
        if aliases > self.max_aliases {
            return Err(limit_error(format!(
                "the query uses {aliases} aliases; at most {} are allowed",
                self.max_aliases
            )));
        }
        let fields = inlined_fields(document);
        if fields > self.max_fields {
            return Err(limit_error(format!(
                "the query selects {} fields once its fragments are inlined; at most {} are allowed",
                if fields == usize::MAX {
                    "too many".to_owned()
                } else {
                    fields.to_string()
                },
                self.max_fields
            )));
        }
        let depth = depth_of(document);
        if depth > self.max_depth {
            return Err(limit_error(format!(
                "the query is nested {depth} deep; at most {} is allowed",
                self.max_depth
            )));
        }
        Ok(())
    }
}

/// The same check as an extension, for subscriptions, whose documents arrive through the
/// WebSocket layer. (HTTP requests are checked before execution instead: a schema with any
/// extension pays for it on every field it resolves.)
#[async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.check(&document)?;
        Ok(document)
    }
}

/// Aliases written in the document's operations and fragments.
pub fn count_aliases(document: &ExecutableDocument) -> usize {
    fn in_set(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set.node)
                }
                Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let in_operations: usize = document
        .operations
        .iter()
        .map(|(_, operation)| in_set(&operation.node.selection_set.node))
        .sum();
    let in_fragments: usize = document
        .fragments
        .values()
        .map(|fragment| in_set(&fragment.node.selection_set.node))
        .sum();
    in_operations + in_fragments
}

/// Whether the document asks for the schema (`__schema`, `__type`) anywhere.
pub fn introspects(document: &ExecutableDocument) -> bool {
    fn in_set(set: &SelectionSet) -> bool {
        set.items.iter().any(|selection| match &selection.node {
            Selection::Field(field) => {
                matches!(field.node.name.node.as_str(), "__schema" | "__type")
                    || in_set(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    document
        .operations
        .iter()
        .any(|(_, operation)| in_set(&operation.node.selection_set.node))
        || document
            .fragments
            .values()
            .any(|fragment| in_set(&fragment.node.selection_set.node))
}

/// How many fields the document's operations select once every fragment is inlined (as the
/// executor's validation will walk them), saturating. Memoized per fragment, so a chain of
/// fragments each spreading the next twice is measured in linear time and then refused,
/// instead of being walked 2^n times.
pub fn inlined_fields(document: &ExecutableDocument) -> usize {
    fn of_set<'a>(
        set: &'a SelectionSet,
        document: &'a ExecutableDocument,
        known: &mut HashMap<&'a str, usize>,
        path: &mut Vec<&'a str>,
    ) -> usize {
        set.items.iter().fold(0usize, |total, selection| {
            let size = match &selection.node {
                Selection::Field(field) => 1usize.saturating_add(of_set(
                    &field.node.selection_set.node,
                    document,
                    known,
                    path,
                )),
                Selection::InlineFragment(fragment) => {
                    of_set(&fragment.node.selection_set.node, document, known, path)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(size) = known.get(name) {
                        *size
                    } else if path.contains(&name) {
                        0
                    } else {
                        match document.fragments.get(&spread.node.fragment_name.node) {
                            None => 0,
                            Some(fragment) => {
                                path.push(name);
                                let size = of_set(
                                    &fragment.node.selection_set.node,
                                    document,
                                    known,
                                    path,
                                );
                                path.pop();
                                known.insert(name, size);
                                size
                            }
                        }
                    }
                }
            };
            total.saturating_add(size)
        })
    }
    let mut known = HashMap::new();
    document
        .operations
        .iter()
        .fold(0usize, |total, (_, operation)| {
            total.saturating_add(of_set(
                &operation.node.selection_set.node,
                document,
                &mut known,
                &mut Vec::new(),
            ))
        })
}

/// The deepest field nesting of any operation, with fragments inlined (a fragment that
/// spreads itself counts once; validation refuses it later) and introspection left out. Each
/// fragment's depth is worked out once, so fragments spreading fragments cannot make this
/// exponential.
pub fn depth_of(document: &ExecutableDocument) -> usize {
    struct Depths<'a> {
        document: &'a ExecutableDocument,
        known: HashMap<&'a str, usize>,
        path: Vec<&'a str>,
    }

    impl<'a> Depths<'a> {
        fn of_set(&mut self, set: &'a SelectionSet) -> usize {
            set.items
                .iter()
                .map(|selection| match &selection.node {
                    Selection::Field(field) if field.node.name.node.starts_with("__") => 0,
                    Selection::Field(field) => 1 + self.of_set(&field.node.selection_set.node),
                    Selection::InlineFragment(fragment) => {
                        self.of_set(&fragment.node.selection_set.node)
                    }
                    Selection::FragmentSpread(spread) => {
                        self.of_fragment(spread.node.fragment_name.node.as_str())
                    }
                })
                .max()
                .unwrap_or(0)
        }

        fn of_fragment(&mut self, name: &'a str) -> usize {
            if let Some(depth) = self.known.get(name) {
                return *depth;
            }
            if self.path.contains(&name) {
                return 0;
            }
            let Some(fragment) = self
                .document
                .fragments
                .iter()
                .find(|(key, _)| key.as_str() == name)
                .map(|(_, fragment)| fragment)
            else {
                return 0;
            };
            self.path.push(name);
            let depth = self.of_set(&fragment.node.selection_set.node);
            self.path.pop();
            self.known.insert(name, depth);
            depth
        }
    }

    let mut depths = Depths {
        document,
        known: HashMap::new(),
        path: Vec::new(),
    };
    document
        .operations
        .iter()
        .map(|(_, operation)| depths.of_set(&operation.node.selection_set.node))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_in_operations_and_fragments() {
        let document = async_graphql::parser::parse_query(
            "query { a: tags b: tags ...F me { c: username } } fragment F on Query { d: tags }",
        )
        .expect("parses");
        assert_eq!(count_aliases(&document), 4);
    }

    #[test]
    fn depth_inlines_fragments_survives_cycles_and_skips_introspection() {
        let document = async_graphql::parser::parse_query(
            "{ posts { edges { ...E } } __schema { types { fields { type { ofType { name } } } } } } \
             fragment E on PostEdge { node { author { ...U } } } \
             fragment U on User { name ...U }",
        )
        .expect("parses");
        assert_eq!(depth_of(&document), 5);
    }

    #[test]
    fn fragments_spreading_fragments_are_measured_once() {
        // Forty fragments, each spreading the next twice: 2^40 paths if expanded naively.
        let mut query = String::from("{ ...F0 }");
        for n in 0..40 {
            query.push_str(&format!(
                " fragment F{n} on Query {{ ...F{next} ...F{next} }}",
                next = n + 1
            ));
        }
        query.push_str(" fragment F40 on Query { me { username } }");
        let document = async_graphql::parser::parse_query(&query).expect("parses");
        let started = std::time::Instant::now();
        assert_eq!(depth_of(&document), 2);
        assert_eq!(inlined_fields(&document), (1usize << 40) * 2);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
