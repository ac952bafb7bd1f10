//! The `.proto` contract stays wire compatible with the released one (`proto/released/`):
//! what old clients and servers send must still mean the same thing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost_types::field_descriptor_proto::Label;
use prost_types::{DescriptorProto, FileDescriptorSet};

const FILES: &[&str] = &["quire/v1/resources.proto", "quire/v1/services.proto"];

fn compile(root: &Path) -> FileDescriptorSet {
    let files: Vec<PathBuf> = FILES.iter().map(|file| root.join(file)).collect();
    protox::compile(&files, [root]).unwrap_or_else(|error| panic!("{}: {error}", root.display()))
}

/// A field as the wire sees it: number, type (and message type), and whether it repeats.
#[derive(Debug, PartialEq, Eq)]
struct WireField {
    name: String,
    kind: i32,
    type_name: String,
    repeated: bool,
}

fn messages(set: &FileDescriptorSet) -> BTreeMap<String, &DescriptorProto> {
    fn walk<'a>(
        prefix: &str,
        messages: &'a [DescriptorProto],
        into: &mut BTreeMap<String, &'a DescriptorProto>,
    ) {
        for message in messages {
            let name = format!("{prefix}.{}", message.name());
            walk(&name, &message.nested_type, into);
            into.insert(name, message);
        }
    }
    let mut all = BTreeMap::new();
    for file in &set.file {
        walk(
            &format!(".{}", file.package()),
            &file.message_type,
            &mut all,
        );
    }
    all
}

fn fields(message: &DescriptorProto) -> BTreeMap<i32, WireField> {
    message
        .field
        .iter()
        .map(|field| {
            (
                field.number(),
                WireField {
                    name: field.name().to_owned(),
                    kind: field.r#type.unwrap_or_default(),
                    type_name: field.type_name().to_owned(),
                    repeated: field.label() == Label::Repeated,
                },
            )
        })
        .collect()
}

fn reserved(message: &DescriptorProto, number: i32) -> bool {
    message
        .reserved_range
        .iter()
        .any(|range| range.start() <= number && number < range.end())
}

/// Every way `new` breaks what `old` (message `name` as released) promised.
fn message_breaks(name: &str, old: &DescriptorProto, new: &DescriptorProto) -> Vec<String> {
    let mut problems = Vec::new();
    let new_fields = fields(new);
    for (number, field) in fields(old) {
        let moved = new_fields
            .iter()
            .find(|(other, now)| **other != number && now.name == field.name);
        match new_fields.get(&number) {
            None => match moved {
                Some((moved, _)) => problems.push(format!(
                    "{name}.{} was renumbered from {number} to {moved}",
                    field.name
                )),
                None if reserved(new, number) => {}
                None => problems.push(format!(
                    "{name}.{} (field {number}) was removed without reserving its number",
                    field.name
                )),
            },
            Some(now)
                if (now.kind, &now.type_name, now.repeated)
                    != (field.kind, &field.type_name, field.repeated) =>
            {
                problems.push(format!(
                    "{name}.{} (field {number}) changed type",
                    field.name
                ));
            }
            Some(now) if now.name != field.name => match moved {
                Some((moved, _)) => problems.push(format!(
                    "{name}.{} was renumbered from {number} to {moved}",
                    field.name
                )),
                // Same number, new name: binary stays compatible, JSON does not.
                None => problems.push(format!(
                    "{name}: field {number} was renamed from {} to {}",
                    field.name, now.name
                )),
            },
            Some(_) => {}
        }
    }
    problems
}

/// A method's input and output message names and whether each side streams.
type Signature = (String, String, bool, bool);

fn methods(set: &FileDescriptorSet) -> BTreeMap<String, Signature> {
    set.file
        .iter()
        .flat_map(|file| {
            file.service.iter().flat_map(move |service| {
                service.method.iter().map(move |method| {
                    (
                        format!("{}.{}/{}", file.package(), service.name(), method.name()),
                        (
                            method.input_type().to_owned(),
                            method.output_type().to_owned(),
                            method.client_streaming(),
                            method.server_streaming(),
                        ),
                    )
                })
            })
        })
        .collect()
}

/// Every way `current` breaks what `released` promised.
fn breaks(released: &FileDescriptorSet, current: &FileDescriptorSet) -> Vec<String> {
    let mut problems = Vec::new();
    let then = messages(released);
    let now = messages(current);
    for (name, old) in &then {
        match now.get(name) {
            None => problems.push(format!("message {name} was removed")),
            Some(new) => problems.extend(message_breaks(name, old, new)),
        }
    }
    let now_methods = methods(current);
    for (name, (input, output, client_streams, server_streams)) in methods(released) {
        let Some((new_input, new_output, new_client, new_server)) = now_methods.get(&name) else {
            problems.push(format!("method {name} was removed"));
            continue;
        };
        if (client_streams, server_streams) != (*new_client, *new_server) {
            problems.push(format!("method {name} changed its streaming"));
        }
        // The wire carries a message's fields, not its name: a method may take or give
        // another message that reads every released field the same way.
        for (side, old, new) in [
            ("input", &input, new_input),
            ("output", &output, new_output),
        ] {
            if old == new {
                continue;
            }
            match (then.get(old), now.get(new)) {
                (Some(old_message), Some(new_message)) => {
                    let differs = message_breaks(old, old_message, new_message);
                    if !differs.is_empty() {
                        problems.push(format!(
                            "method {name} changed its {side} from {old} to {new}, which reads \
                             differently: {}",
                            differs.join("; ")
                        ));
                    }
                }
                _ => problems.push(format!("method {name} changed its {side} messages")),
            }
        }
    }
    problems
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

#[test]
fn the_current_contract_keeps_the_released_one() {
    let root = repository();
    let problems = breaks(&compile(&root.join("released")), &compile(&root));
    assert!(
        problems.is_empty(),
        "the .proto files break wire compatibility with proto/released:\n{}",
        problems.join("\n")
    );
}

/// Copies the released files into a scratch directory with one edit, and compiles them.
fn edited(from: &str, to: &str) -> FileDescriptorSet {
    let released = repository().join("released");
    let scratch = tempfile::tempdir().unwrap();
    let mut applied = false;
    for file in FILES {
        let text = std::fs::read_to_string(released.join(file)).unwrap();
        let changed = text.replacen(from, to, 1);
        applied |= changed != text;
        let path = scratch.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, changed).unwrap();
    }
    assert!(applied, "{from:?} is not in the released files");
    compile(scratch.path())
}

#[test]
fn breaking_changes_are_caught() {
    let released = compile(&repository().join("released"));
    let cases = [
        (
            "\n  string slug = 2;",
            "",
            "Post.slug (field 2) was removed",
        ),
        ("\n  string slug = 2;", "\n  reserved 2;", ""),
        (
            "\n  string slug = 2;",
            "\n  string slug = 16;",
            "renumbered from 2 to 16",
        ),
        (
            "\n  int64 favorites_count = 12;",
            "\n  string favorites_count = 12;",
            "changed type",
        ),
        (
            "\n  repeated string tags = 6;",
            "\n  string tags = 6;",
            "changed type",
        ),
        (
            "rpc GetPost(GetPostRequest) returns (Post);",
            "rpc GetPost(GetPostRequest) returns (stream Post);",
            "changed its streaming",
        ),
        (
            "rpc ListComments(PostRef)",
            "rpc ListComments(UserRef)",
            "changed its input from .quire.v1.PostRef to .quire.v1.UserRef",
        ),
        (
            "rpc ListComments(PostRef) returns (CommentList)",
            "rpc ListComments(PostRef) returns (TagList)",
            "changed its output",
        ),
        (
            "  rpc LogIn(Credentials) returns (Session);\n",
            "",
            "SessionService/LogIn was removed",
        ),
        (
            "  optional string bio = 5;\n  optional string image = 6;\n  bool is_active = 7;",
            "  optional string bio = 5;\n  optional string image = 6;\n  bool is_active = 7;\n  string nickname = 11;",
            "",
        ),
    ];
    for (from, to, expected) in cases {
        let problems = breaks(&released, &edited(from, to));
        if expected.is_empty() {
            assert!(problems.is_empty(), "{from:?} -> {to:?}: {problems:?}");
        } else {
            assert!(
                problems.iter().any(|problem| problem.contains(expected)),
                "{from:?} -> {to:?}: {problems:?}"
            );
        }
    }
}
