//! `/graphql` over WebSocket: `graphql-transport-ws` (and the older `graphql-ws`), signed in by
//! the `connection_init` payload, with the caller's rights checked at every act rather than
//! once when the socket opens:
//!
//! - every operation sent on the connection runs as the caller is now ([`Recheck`]): the token
//!   checked against the clock again, the account read again (active, roles), with loaders of
//!   its own;
//! - every event a subscription delivers is authorized the same way (the core's
//!   [`Quire::comments_added`] and [`Quire::posts_published`]);
//! - the connection is closed with 4403 Forbidden as soon as the token expires or the user is
//!   deactivated ([`Quire::lapse`]), whether or not anything is running on it.
//!
//! Where the library departs from the graphql-transport-ws protocol, this module follows the
//! protocol: a `subscribe` whose id is already in use closes the connection with 4409, and an
//! operation that fails before executing (parse, validation, refused credential) gets one
//! `error` message, not `next` and `complete`.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::http::{WebSocketProtocols as Protocols, WsMessage};
use async_graphql::{Data, Pos, Request as GraphqlRequest, ServerResult};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use quire_core::ports::{BoxFuture, Store};
use quire_core::service::{Caller, Quire};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::context::Viewer;
use crate::error::{graphql_error, request_error_code};
use crate::loaders::Loaders;
use crate::schema::QuireSchema;

/// graphql-transport-ws's close code for a refused or lapsed credential.
pub const FORBIDDEN: u16 = 4403;
/// graphql-transport-ws's close code for a `subscribe` whose id is already in use.
pub const SUBSCRIBER_EXISTS: u16 = 4409;

/// The caller a connection was signed in as by its `connection_init`.
struct Connection(Caller);

/// The extension that runs each operation of a connection as its caller is now.
pub struct Recheck<S>(PhantomData<fn() -> S>);

impl<S> Default for Recheck<S> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<S: Store> ExtensionFactory for Recheck<S> {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Recheck::<S>::default())
    }
}

#[async_trait::async_trait]
impl<S: Store> Extension for Recheck<S> {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: GraphqlRequest,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<GraphqlRequest> {
        let (Some(Connection(caller)), Ok(quire)) =
            (ctx.data_opt::<Connection>(), ctx.data::<Quire<S>>())
        else {
            return next.run(ctx, request).await;
        };
        let caller = quire
            .recheck(caller)
            .await
            .map_err(|error| graphql_error(&error).into_server_error(Pos::default()))?;
        let actor = caller.actor().copied();
        let request = request
            .data(Viewer(actor))
            .data(Loaders::new(quire, actor))
            .data(caller);
        next.run(ctx, request).await
    }
}

/// Serves one upgraded connection until either side ends it or the caller's credential lapses.
pub async fn serve<S: Store>(
    socket: WebSocket,
    quire: Quire<S>,
    schema: QuireSchema<S>,
    protocol: Protocols,
) {
    let (mut sink, mut source) = socket.split();
    let (input, received) = mpsc::channel::<Vec<u8>>(16);
    let (signed_in, mut signed_in_as) = oneshot::channel::<SignIn>();
    let init_quire = quire.clone();
    let graphql = async_graphql::http::WebSocket::new(schema, stream_of(received), protocol)
        .on_connection_init(move |payload| connection_init(init_quire, payload, signed_in));
    futures_util::pin_mut!(graphql);
    let mut lapse: BoxFuture<'static, quire_core::Error> = Box::pin(std::future::pending());
    let mut sign_in: Option<SignIn> = None;
    let mut operations = Operations::new(protocol);
    loop {
        let close = tokio::select! {
            // Read from the client only while there is room for what it sends: the library
            // takes input only as it is polled, so waiting on a full channel inside this loop
            // would stop both.
            (permit, incoming) = async { (input.reserve().await, source.next().await) } => {
                let Ok(permit) = permit else { break };
                match incoming {
                    Some(Ok(Message::Text(text))) => accept(permit, &mut operations, text.as_bytes()),
                    Some(Ok(Message::Binary(bytes))) => accept(permit, &mut operations, &bytes),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                }
            },
            outgoing = graphql.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    if let Some(text) = operations.send(text)
                        && !deliver(&mut sink, Message::Text(text.into())).await
                    {
                        break;
                    }
                    None
                }
                Some(WsMessage::Close(code, reason)) => {
                    // The library closes every refused init with 1002, and may do so before
                    // this loop has heard how the init went.
                    if sign_in.is_none() {
                        sign_in = signed_in_as.try_recv().ok();
                    }
                    Some(refusal_close(code, reason, sign_in.as_ref()))
                }
                None => break,
            },
            heard = &mut signed_in_as, if sign_in.is_none() => {
                if let Ok(heard) = heard {
                    if let SignIn::Accepted(caller) = &heard {
                        lapse = quire.lapse(caller);
                    }
                    sign_in = Some(heard);
                } else {
                    sign_in = Some(SignIn::Failed);
                }
                None
            },
            reason = &mut lapse => {
                tracing::info!(%reason, "closing a GraphQL WebSocket whose credential lapsed");
                Some(CloseFrame {
                    code: FORBIDDEN,
                    reason: format!("Forbidden: {}", graphql_error(&reason).message).into(),
                })
            },
        };
        if let Some(frame) = close {
            deliver(&mut sink, Message::Close(Some(frame))).await;
            break;
        }
    }
}

/// How long a client may take to accept one message before the connection is dropped: a
/// client that stops reading must not hold the connection (and a lapsed caller's
/// subscriptions) open.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends `message`; false when the client is gone or too slow to take it.
async fn deliver<T>(sink: &mut T, message: Message) -> bool
where
    T: futures_util::Sink<Message> + Unpin,
{
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// How a connection's `connection_init` went.
#[derive(Debug)]
enum SignIn {
    Accepted(Caller),
    /// The credential was refused: the connection closes with 4403.
    Refused,
    /// Checking it failed (the database down, say): the library's code stands.
    Failed,
}

/// Passes a client message to the library, unless the protocol rules out what it asks.
fn accept(
    permit: mpsc::Permit<'_, Vec<u8>>,
    operations: &mut Operations,
    message: &[u8],
) -> Option<CloseFrame> {
    let close = operations.receive(message);
    if close.is_none() {
        permit.send(message.to_vec());
    }
    close
}

fn stream_of(mut received: mpsc::Receiver<Vec<u8>>) -> impl futures_util::Stream<Item = Vec<u8>> {
    futures_util::stream::poll_fn(move |cx| received.poll_recv(cx))
}

/// async-graphql closes every refused `connection_init` with 1002; graphql-transport-ws
/// closes a refused credential with 4403 Forbidden (clients then stop retrying with it).
/// Other failures, such as the database being down, keep the library's code.
fn refusal_close(code: u16, reason: String, sign_in: Option<&SignIn>) -> CloseFrame {
    if code == 1002 && matches!(sign_in, Some(SignIn::Refused)) {
        CloseFrame {
            code: FORBIDDEN,
            reason: format!("Forbidden: {reason}").into(),
        }
    } else {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

/// Signs a WebSocket connection in from its `connection_init` payload:
/// `{"Authorization": "Bearer <token>"}` or `{"token": "<token>"}` (keys in any case). No
/// credential is anonymous; a bad one, or one that is not a string, closes the connection.
async fn connection_init<S: Store>(
    quire: Quire<S>,
    payload: Value,
    signed_in: oneshot::Sender<SignIn>,
) -> async_graphql::Result<Data> {
    let refuse = |error: quire_core::Error, signed_in: oneshot::Sender<SignIn>| {
        let refused = matches!(error, quire_core::Error::Unauthenticated(_));
        let _ = signed_in.send(if refused {
            SignIn::Refused
        } else {
            SignIn::Failed
        });
        graphql_error(&error)
    };
    let presented = payload.as_object().and_then(|fields| {
        fields.iter().find_map(|(key, value)| {
            if key.eq_ignore_ascii_case("authorization") {
                Some(value.as_str().map(str::to_owned))
            } else if key.eq_ignore_ascii_case("token") {
                Some(value.as_str().map(|token| format!("Bearer {token}")))
            } else {
                None
            }
        })
    });
    let authorization = match presented {
        None => None,
        Some(Some(authorization)) => Some(authorization),
        Some(None) => {
            let error = quire_core::Error::Unauthenticated(quire_core::AuthProblem::InvalidToken);
            return Err(refuse(error, signed_in));
        }
    };
    let caller = match quire.caller(authorization.as_deref()).await {
        Ok(caller) => caller,
        Err(error) => return Err(refuse(error, signed_in)),
    };
    let _ = signed_in.send(SignIn::Accepted(caller.clone()));
    let mut data = Data::default();
    data.insert(Connection(caller));
    Ok(data)
}

/// The operations running on a graphql-transport-ws connection, by id, for the protocol rules
/// the library leaves out. (The older `graphql-ws` protocol passes through untouched.)
struct Operations {
    enforced: bool,
    /// Each running id, and whether a result has been sent for it yet.
    running: HashMap<String, bool>,
}

impl Operations {
    fn new(protocol: Protocols) -> Self {
        Self {
            enforced: matches!(protocol, Protocols::GraphQLWS),
            running: HashMap::new(),
        }
    }

    /// Notes a client message; a `subscribe` with an id already running closes the connection.
    fn receive(&mut self, message: &[u8]) -> Option<CloseFrame> {
        if !self.enforced {
            return None;
        }
        let envelope: Envelope<'_> = serde_json::from_slice(message).ok()?;
        let id = envelope.id?;
        let id = id.as_ref();
        match envelope.kind.as_ref() {
            "subscribe" if self.running.contains_key(id) => Some(CloseFrame {
                code: SUBSCRIBER_EXISTS,
                reason: format!("Subscriber for {id} already exists").into(),
            }),
            "subscribe" => {
                self.running.insert(id.to_owned(), false);
                None
            }
            "complete" => {
                self.running.remove(id);
                None
            }
            _ => None,
        }
    }

    /// The message to send for one the library produced, if any: an operation's first result
    /// that holds only request errors becomes an `error` message, and the `complete` the
    /// library sends after it is dropped (the protocol ends an operation with either).
    fn send(&mut self, text: String) -> Option<String> {
        if !self.enforced {
            return Some(text);
        }
        // Only the envelope is read (the payload is skipped, not built), except for an
        // operation's first result: this runs for every event a subscription delivers.
        let Ok(Envelope { id: Some(id), kind }) = serde_json::from_str::<Envelope<'_>>(&text)
        else {
            return Some(text);
        };
        let id = id.into_owned();
        match kind.as_ref() {
            "next" => {
                let first = self.running.insert(id.clone(), true) == Some(false);
                if !first {
                    return Some(text);
                }
                let mut message: Value = serde_json::from_str(&text).ok()?;
                match message.get_mut("payload").and_then(request_errors) {
                    Some(errors) => {
                        self.running.remove(&id);
                        let error =
                            serde_json::json!({"id": id, "type": "error", "payload": errors});
                        Some(error.to_string())
                    }
                    None => Some(text),
                }
            }
            "complete" => self.running.remove(&id).map(|_| text),
            "error" => {
                self.running.remove(&id);
                Some(text)
            }
            _ => Some(text),
        }
    }
}

/// What the protocol rules need of a message: its operation id and type.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

/// The errors of a result that failed as a request (no data, no error at a path), each given
/// a code as HTTP responses get theirs.
fn request_errors(payload: &mut Value) -> Option<Value> {
    if payload.get("data").is_some_and(|data| !data.is_null()) {
        return None;
    }
    let errors = payload.get_mut("errors")?.as_array_mut()?;
    let at_a_path = |error: &Value| {
        error
            .get("path")
            .and_then(Value::as_array)
            .is_some_and(|path| !path.is_empty())
    };
    if errors.is_empty() || errors.iter().any(at_a_path) {
        return None;
    }
    for error in errors.iter_mut() {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(fields) = error.as_object_mut() else {
            continue;
        };
        let extensions = fields
            .entry("extensions")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(extensions) = extensions.as_object_mut() {
            extensions
                .entry("code")
                .or_insert_with(|| Value::from(request_error_code(&message)));
        }
    }
    Some(Value::Array(errors.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    #[test]
    fn a_duplicate_subscription_id_closes_with_4409() {
        let mut operations = Operations::new(Protocols::GraphQLWS);
        let subscribe = r#"{"id":"1","type":"subscribe","payload":{"query":"subscription { postPublished { id } }"}}"#;
        assert!(operations.receive(subscribe.as_bytes()).is_none());
        let close = operations.receive(subscribe.as_bytes()).unwrap();
        assert_eq!(close.code, SUBSCRIBER_EXISTS);
        // Once completed, the id may be used again.
        assert!(
            operations
                .receive(br#"{"id":"1","type":"complete"}"#)
                .is_none()
        );
        assert!(operations.receive(subscribe.as_bytes()).is_none());
    }

    #[test]
    fn a_request_error_is_an_error_message_without_complete() {
        let mut operations = Operations::new(Protocols::GraphQLWS);
        operations.receive(
            br#"{"id":"7","type":"subscribe","payload":{"query":"subscription { nope }"}}"#,
        );
        let next = r#"{"id":"7","type":"next","payload":{"data":null,"errors":[{"message":"Unknown field \"nope\""}]}}"#;
        let sent: Value = serde_json::from_str(&operations.send(next.to_owned()).unwrap()).unwrap();
        assert_eq!(sent["type"], "error");
        assert_eq!(
            sent["payload"][0]["extensions"]["code"],
            code::GRAPHQL_VALIDATION_FAILED
        );
        assert!(
            operations
                .send(r#"{"id":"7","type":"complete"}"#.to_owned())
                .is_none()
        );
    }

    #[test]
    fn field_errors_and_later_results_stay_next() {
        let mut operations = Operations::new(Protocols::GraphQLWS);
        operations.receive(br#"{"id":"2","type":"subscribe","payload":{"query":"subscription { commentAdded(postId: 9) { id } }"}}"#);
        let at_path = r#"{"id":"2","type":"next","payload":{"data":null,"errors":[{"message":"not found","path":["commentAdded"]}]}}"#;
        let sent: Value =
            serde_json::from_str(&operations.send(at_path.to_owned()).unwrap()).unwrap();
        assert_eq!(sent["type"], "next");
        let complete = r#"{"id":"2","type":"complete"}"#;
        assert_eq!(
            operations.send(complete.to_owned()).as_deref(),
            Some(complete)
        );
    }

    #[test]
    fn the_older_protocol_passes_through() {
        let mut operations = Operations::new(Protocols::SubscriptionsTransportWS);
        let start = r#"{"id":"1","type":"start","payload":{"query":"{ tags }"}}"#;
        assert!(operations.receive(start.as_bytes()).is_none());
        assert!(operations.receive(start.as_bytes()).is_none());
    }
}
