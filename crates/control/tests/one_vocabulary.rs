//! The configuration and the API speak one vocabulary: every route target
//! one accepts, the other accepts with the same meaning, and what one
//! refuses the other refuses for the same reason.

use std::path::Path;

use orbital_control::api::{Update, compile_updates};
use orbital_control::{TableUpdate, compile_str};

const BASE: &str = r#"
[[port]]
name = "lan0"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24"]

[[port]]
name = "wan0"
mac = "02:00:00:00:01:01"
addresses = ["192.0.2.1/24"]
"#;

/// (TOML of the target, the API's via/dev/type).
type Case = (
    &'static str,
    &'static [&'static str],
    Option<&'static str>,
    Option<&'static str>,
);

const CASES: &[Case] = &[
    (r#"via = "192.0.2.254""#, &["192.0.2.254"], None, None),
    (
        r#"via = ["10.0.0.2", "10.0.0.3"]"#,
        &["10.0.0.2", "10.0.0.3"],
        None,
        None,
    ),
    (
        r#"via = "192.0.2.254"
dev = "wan0""#,
        &["192.0.2.254"],
        Some("wan0"),
        None,
    ),
    (r#"dev = "lan0""#, &[], Some("lan0"), None),
    (r#"type = "blackhole""#, &[], None, Some("blackhole")),
    (r#"type = "unreachable""#, &[], None, Some("unreachable")),
    (r#"type = "prohibit""#, &[], None, Some("prohibit")),
    (r#"type = "local""#, &[], None, Some("local")),
    // Refused by both:
    (r#"type = "sinkhole""#, &[], None, Some("sinkhole")),
    (r#"dev = "wan9""#, &[], Some("wan9"), None),
    (r#"via = "not-an-address""#, &["not-an-address"], None, None),
    (
        r#"via = ["10.0.0.2", "10.0.0.3"]
dev = "lan0""#,
        &["10.0.0.2", "10.0.0.3"],
        Some("lan0"),
        None,
    ),
    (
        r#"via = "192.0.2.254"
type = "blackhole""#,
        &["192.0.2.254"],
        None,
        Some("blackhole"),
    ),
];

#[test]
fn config_and_api_accept_the_same_route_targets() {
    let base = compile_str(Path::new("base.toml"), BASE).unwrap();
    let builder = base.builder().unwrap();
    for (toml, via, dev, kind) in CASES {
        let text = format!("{BASE}\n[[route]]\nprefix = \"203.0.113.0/24\"\n{toml}\n");
        let from_config = compile_str(Path::new("r.toml"), &text).map(|c| {
            c.updates
                .into_iter()
                .find(|u| matches!(u, TableUpdate::AddRoute { .. }))
                .unwrap()
        });
        let from_api = compile_updates(
            &[Update::RouteAdd {
                prefix: "203.0.113.0/24".into(),
                via: via.iter().map(|s| s.to_string()).collect(),
                dev: dev.map(String::from),
                kind: kind.map(String::from),
            }],
            builder.interfaces(),
        )
        .map(|mut v| v.remove(0));
        match (from_config, from_api) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{toml}"),
            (Err(a), Err(b)) => {
                // Same reason, each in its own frame (file:line:col / update N).
                assert!(b.ends_with(&a.message), "{toml}: config `{a}` vs api `{b}`");
            }
            (a, b) => panic!("{toml}: config {a:?} but api {b:?}"),
        }
    }
}
