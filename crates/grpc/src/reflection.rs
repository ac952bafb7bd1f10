//! gRPC server reflection, v1 and v1alpha, over the descriptors quire serves (its own
//! `.proto` files, health, reflection itself), so tools such as `grpcurl` need no `.proto`.
//!
//! Every request on a reflection stream gets its answer on that stream, in order, as the
//! protocol asks (`grpc/reflection/v1/reflection.proto`): a symbol or file that is not known is
//! an in-stream `error_response` with `NOT_FOUND`, and the stream goes on. (tonic-reflection
//! ends the whole stream with a `NOT_FOUND` status instead, which breaks clients that go on
//! asking after a miss.) A file comes with the files it imports, transitively.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use prost::Message;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet};
use tonic::Code;

/// Every file, and the file that defines each fully qualified symbol (package, message,
/// nested message, field, oneof, enum, enum value, service, method).
#[derive(Debug, Default)]
pub struct Descriptors {
    files: HashMap<String, Arc<FileDescriptorProto>>,
    symbols: HashMap<String, String>,
    services: Vec<String>,
}

impl Descriptors {
    /// The index of encoded `FileDescriptorSet`s; a file named twice keeps its first form.
    pub fn from_sets(sets: &[&[u8]]) -> Result<Self, prost::DecodeError> {
        let mut index = Self::default();
        for set in sets {
            for file in FileDescriptorSet::decode(*set)?.file {
                index.add(file);
            }
        }
        index.services.sort();
        index.services.dedup();
        Ok(index)
    }

    fn add(&mut self, file: FileDescriptorProto) {
        let name = file.name().to_owned();
        if self.files.contains_key(&name) {
            return;
        }
        let package = file.package().to_owned();
        let mut symbols = Vec::new();
        if !package.is_empty() {
            symbols.push(package.clone());
        }
        for message in &file.message_type {
            message_symbols(&package, message, &mut symbols);
        }
        for kind in &file.enum_type {
            enum_symbols(&package, kind, &mut symbols);
        }
        for service in &file.service {
            let service_name = qualified(&package, service.name());
            for method in &service.method {
                symbols.push(qualified(&service_name, method.name()));
            }
            self.services.push(service_name.clone());
            symbols.push(service_name);
        }
        for symbol in symbols {
            self.symbols.entry(symbol).or_insert_with(|| name.clone());
        }
        self.files.insert(name, Arc::new(file));
    }

    /// The names of the services offered.
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// The encoded file `name` and the files it imports, transitively; `None` if unknown.
    fn file_with_imports(&self, name: &str) -> Option<Vec<Vec<u8>>> {
        self.files.get(name)?;
        let mut seen = BTreeSet::new();
        let mut order = Vec::new();
        let mut pending = vec![name.to_owned()];
        while let Some(next) = pending.pop() {
            if !seen.insert(next.clone()) {
                continue;
            }
            if let Some(file) = self.files.get(&next) {
                pending.extend(file.dependency.iter().cloned());
                order.push(file.encode_to_vec());
            }
        }
        Some(order)
    }

    fn file_defining(&self, symbol: &str) -> Option<Vec<Vec<u8>>> {
        let symbol = symbol.strip_prefix('.').unwrap_or(symbol);
        self.file_with_imports(self.symbols.get(symbol)?)
    }
}

fn qualified(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn message_symbols(prefix: &str, message: &DescriptorProto, symbols: &mut Vec<String>) {
    let name = qualified(prefix, message.name());
    for nested in &message.nested_type {
        message_symbols(&name, nested, symbols);
    }
    for kind in &message.enum_type {
        enum_symbols(&name, kind, symbols);
    }
    for field in &message.field {
        symbols.push(qualified(&name, field.name()));
    }
    for oneof in &message.oneof_decl {
        symbols.push(qualified(&name, oneof.name()));
    }
    symbols.push(name);
}

fn enum_symbols(prefix: &str, kind: &EnumDescriptorProto, symbols: &mut Vec<String>) {
    let name = qualified(prefix, kind.name());
    for value in &kind.value {
        symbols.push(qualified(&name, value.name()));
    }
    symbols.push(name);
}

/// What a reflection request asks, whichever version of the protocol carried it.
enum Asked {
    File(String),
    Symbol(String),
    Extension,
    ExtensionNumbers(String),
    Services,
    Nothing,
}

/// The answer to one request.
enum Answer {
    Files(Vec<Vec<u8>>),
    ExtensionNumbers(String),
    Services(Vec<String>),
    Error(Code, String),
}

fn answer(index: &Descriptors, asked: Asked) -> Answer {
    let not_found = |what: String| Answer::Error(Code::NotFound, what);
    match asked {
        Asked::File(name) => index.file_with_imports(&name).map_or_else(
            || not_found(format!("file '{name}' not found")),
            Answer::Files,
        ),
        Asked::Symbol(symbol) => index.file_defining(&symbol).map_or_else(
            || not_found(format!("symbol '{symbol}' not found")),
            Answer::Files,
        ),
        Asked::Extension => not_found("extensions are not supported".to_owned()),
        // No message of quire's declares extension ranges: every known type has none.
        Asked::ExtensionNumbers(base)
            if index.symbols.contains_key(base.trim_start_matches('.')) =>
        {
            Answer::ExtensionNumbers(base)
        }
        Asked::ExtensionNumbers(base) => not_found(format!("type '{base}' not found")),
        Asked::Services => Answer::Services(index.services().to_vec()),
        Asked::Nothing => Answer::Error(Code::InvalidArgument, "no request".to_owned()),
    }
}

/// A stream of answers, one per request, ending when the client's stream ends or fails.
type Answers<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send>>;

/// The reflection service of one protocol version, over the same index.
macro_rules! reflection_version {
    ($version:ident) => {
        pub mod $version {
            use std::sync::Arc;

            use futures_util::StreamExt;
            use tonic::{Request, Response, Status, Streaming};
            use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
            pub use tonic_reflection::pb::$version::server_reflection_server::ServerReflectionServer;
            use tonic_reflection::pb::$version::server_reflection_server::ServerReflection;
            use tonic_reflection::pb::$version::{
                ErrorResponse, ExtensionNumberResponse, FileDescriptorResponse,
                ListServiceResponse, ServerReflectionRequest, ServerReflectionResponse,
                ServiceResponse,
            };

            use super::{Answer, Answers, Asked, Descriptors, answer};

            /// Reflection as this version of the protocol speaks it.
            pub struct Reflection(pub Arc<Descriptors>);

            fn asked(request: &ServerReflectionRequest) -> Asked {
                match &request.message_request {
                    Some(MessageRequest::FileByFilename(name)) => Asked::File(name.clone()),
                    Some(MessageRequest::FileContainingSymbol(symbol)) => {
                        Asked::Symbol(symbol.clone())
                    }
                    Some(MessageRequest::FileContainingExtension(_)) => Asked::Extension,
                    Some(MessageRequest::AllExtensionNumbersOfType(base)) => {
                        Asked::ExtensionNumbers(base.clone())
                    }
                    Some(MessageRequest::ListServices(_)) => Asked::Services,
                    None => Asked::Nothing,
                }
            }

            fn respond(index: &Descriptors, request: ServerReflectionRequest) -> ServerReflectionResponse {
                let message = match answer(index, asked(&request)) {
                    Answer::Files(files) => {
                        MessageResponse::FileDescriptorResponse(FileDescriptorResponse {
                            file_descriptor_proto: files,
                        })
                    }
                    Answer::ExtensionNumbers(base_type_name) => {
                        MessageResponse::AllExtensionNumbersResponse(ExtensionNumberResponse {
                            base_type_name,
                            extension_number: Vec::new(),
                        })
                    }
                    Answer::Services(names) => {
                        MessageResponse::ListServicesResponse(ListServiceResponse {
                            service: names
                                .into_iter()
                                .map(|name| ServiceResponse { name })
                                .collect(),
                        })
                    }
                    Answer::Error(code, error_message) => {
                        MessageResponse::ErrorResponse(ErrorResponse {
                            error_code: code as i32,
                            error_message,
                        })
                    }
                };
                ServerReflectionResponse {
                    valid_host: request.host.clone(),
                    original_request: Some(request),
                    message_response: Some(message),
                }
            }

            #[tonic::async_trait]
            impl ServerReflection for Reflection {
                type ServerReflectionInfoStream = Answers<ServerReflectionResponse>;

                async fn server_reflection_info(
                    &self,
                    request: Request<Streaming<ServerReflectionRequest>>,
                ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
                    let index = Arc::clone(&self.0);
                    // An error reading the client's stream is the call's last word.
                    let answers = request
                        .into_inner()
                        .scan(false, |failed, request| {
                            let next = (!*failed).then(|| {
                                *failed = request.is_err();
                                request
                            });
                            std::future::ready(next)
                        })
                        .map(move |request| request.map(|request| respond(&index, request)));
                    Ok(Response::new(Box::pin(answers)))
                }
            }
        }
    };
}

reflection_version!(v1);
reflection_version!(v1alpha);

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Descriptors {
        Descriptors::from_sets(&[
            quire_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ])
        .unwrap()
    }

    #[test]
    fn symbols_of_every_kind_lead_to_their_file() {
        let index = index();
        for symbol in [
            "quire.v1.PostService",
            "quire.v1.PostService.GetPost",
            "quire.v1.Post",
            ".quire.v1.Post",
            "quire.v1.Post.title",
            "grpc.health.v1.Health",
        ] {
            assert!(index.file_defining(symbol).is_some(), "{symbol}");
        }
        assert!(index.file_defining("quire.v1.Nope").is_none());
        assert!(
            index
                .services()
                .iter()
                .any(|name| name == "quire.v1.PostService")
        );
    }

    #[test]
    fn a_file_comes_with_what_it_imports() {
        let index = index();
        let services = index
            .files
            .keys()
            .find(|name| name.ends_with("services.proto"))
            .unwrap()
            .clone();
        let files = index.file_with_imports(&services).unwrap();
        assert!(files.len() >= 2, "services.proto imports resources.proto");
    }

    #[test]
    fn misses_are_answers_not_failures() {
        let index = index();
        assert!(matches!(
            answer(&index, Asked::Symbol("quire.v1.Nope".to_owned())),
            Answer::Error(Code::NotFound, _)
        ));
        assert!(matches!(
            answer(&index, Asked::File("nope.proto".to_owned())),
            Answer::Error(Code::NotFound, _)
        ));
    }
}
