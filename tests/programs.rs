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
