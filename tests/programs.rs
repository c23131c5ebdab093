//! The two programs as an operator runs them: help, bad arguments, a bad
//! configuration; the agent's `--once`.

use std::process::{Command, Output};

mod support;
use support::example;

fn agent(args: &[&str]) -> Output {
    run("agent", args)
}

fn run(program: &str, args: &[&str]) -> Output {
    let bin = example(program);
    assert!(
        bin.exists(),
        "example binary missing ({}); run through `cargo test`, which builds it",
        bin.display()
    );
    Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the program")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_bad_arguments() {
    let help = agent(&["--help"]);
    assert!(help.status.success());
    assert!(text(&help.stdout).starts_with("usage: agent [CONFIG] [--once]"));

    let unknown = agent(&["--oops"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = text(&unknown.stderr);
    assert!(
        err.contains("unknown option `--oops`") && err.contains("usage:"),
        "{err}"
    );

    let two = agent(&["a.toml", "b.toml"]);
    assert_eq!(two.status.code(), Some(2));
    assert!(text(&two.stderr).contains("more than one configuration file (`b.toml`)"));
}

#[test]
fn a_bad_configuration_names_the_file_and_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "collection_interval_secs = 0\n").expect("write");
    let out = agent(&[path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("agent.toml") && err.contains("collection_interval_secs"),
        "{err}"
    );
}

#[test]
fn once_prints_one_collection_under_the_configured_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "agent_id = \"cli-once\"\n").expect("write");
    let out = agent(&[path.to_str().expect("utf-8 path"), "--once"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(lines.iter().any(|v| v["metric"] == "memory.total"));
    assert!(lines.iter().all(|v| v["agent_id"] == "cli-once"));
}

#[test]
fn the_server_program_answers_help_and_refuses_bad_arguments_without_starting() {
    let help = run("server", &["--help"]);
    assert!(help.status.success());
    assert!(text(&help.stdout).starts_with("usage: server [CONFIG] [--check-config]"));

    let unknown = run("server", &["--oops"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = text(&unknown.stderr);
    assert!(
        err.contains("unknown option `--oops`") && err.contains("usage:"),
        "{err}"
    );

    let two = run("server", &["a.toml", "b.toml", "--check-config"]);
    assert_eq!(two.status.code(), Some(2));
    assert!(text(&two.stderr).contains("more than one configuration file (`b.toml`)"));
}

/// `--check-config` also checks the rules made through the API, kept in
/// `data_dir/cert.db`, without changing the file.
#[tokio::test(flavor = "multi_thread")]
async fn check_config_checks_what_the_api_stored_too() {
    use oxmon::core::manage::{DefinitionKind, DefinitionStore};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[auth]\ndefault_password = \"correct horse battery 9\"\n",
            data.display()
        ),
    )
    .expect("write");
    let check = || {
        run(
            "server",
            &[config.to_str().expect("utf-8"), "--check-config"],
        )
    };
    assert!(check().status.success(), "{}", text(&check().stderr));

    // A rule of a type this server does not have (its plugin is gone).
    let store = oxmon::storage::SqliteManagementStore::open(data.join("cert.db"))
        .await
        .expect("open");
    let rule: oxmon::core::toml::Table = "name = \"jumpy\"\ntype = \"jump\"\nmetric = \"m\""
        .parse()
        .expect("toml");
    store
        .create_definition(DefinitionKind::Rule, "jumpy", &rule, 1)
        .await
        .expect("store");
    drop(store);
    let before = std::fs::read(data.join("cert.db")).expect("read");
    let out = check();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cert.db rule 1") && err.contains("unknown rule type `jump`"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(data.join("cert.db")).expect("read"),
        before,
        "checking changes nothing"
    );

    // Without it, a stored channel its plugin refuses fails the check too.
    let store = oxmon::storage::SqliteManagementStore::open(data.join("cert.db"))
        .await
        .expect("open");
    let rules = store
        .list_definitions(DefinitionKind::Rule)
        .await
        .expect("list");
    store
        .delete_definition(DefinitionKind::Rule, &rules[0].id)
        .await
        .expect("delete");
    let channel: oxmon::core::toml::Table =
        "name = \"pager\"\ntype = \"webhook\"\nurl = \"ftp://x\""
            .parse()
            .expect("toml");
    store
        .create_definition(DefinitionKind::Channel, "pager", &channel, 1)
        .await
        .expect("store");
    drop(store);
    let out = check();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cert.db channel 1") && err.contains("url"),
        "{err}"
    );

    // And a stored runtime setting the file's check refuses.
    let store = oxmon::storage::SqliteManagementStore::open(data.join("cert.db"))
        .await
        .expect("open");
    let channels = store
        .list_definitions(DefinitionKind::Channel)
        .await
        .expect("list");
    store
        .delete_definition(DefinitionKind::Channel, &channels[0].id)
        .await
        .expect("delete");
    let setting: oxmon::core::toml::Table = "value = -3".parse().expect("toml");
    store
        .create_definition(DefinitionKind::Setting, "retention_days", &setting, 1)
        .await
        .expect("store");
    drop(store);
    let out = check();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cert.db settings") && err.contains("retention_days"),
        "{err}"
    );
}
