//! The operator's command line, configuration: `config default` accepted by `config check`, config
//! errors (file, environment, `serve`) as one line naming the key, and an idempotent `migrate`.

use super::{Cli, assert_bad_input};

#[test]
fn config_default_is_accepted_by_config_check() {
    let cli = Cli::new();
    let out = cli.run(&["config", "default"]).ok();
    for section in [
        "[server]",
        "[database]",
        "[log]",
        "[auth]",
        "[passwords]",
        "[tokens]",
        "[admin]",
    ] {
        assert!(out.stdout.contains(section), "missing {section}");
    }
    let path = cli.write("default.toml", &out.stdout);
    let checked = cli.run(&["config", "check", &path]).ok();
    assert!(checked.stdout.contains("valid"), "{checked:#?}");
    cli.run(&["--config", &path, "config", "check"]).ok();
    // No file at all: the defaults are valid too.
    cli.run(&["config", "check"]).ok();
}

#[test]
fn config_errors_are_one_line_naming_the_key() {
    let cli = Cli::new();

    let typo = cli.write("typo.toml", "[server]\nlisten_typo = 1\n");
    assert_bad_input(
        &cli.run(&["config", "check", &typo]),
        &["server.listen_typo"],
    );
    assert_bad_input(
        &cli.run(&["--config", &typo, "config", "check"]),
        &["server.listen_typo"],
    );

    let bad_listen = cli.write("listen.toml", "[server]\nlisten = \"nope\"\n");
    assert_bad_input(
        &cli.run(&["config", "check", &bad_listen]),
        &["server.listen", "nope"],
    );

    let none_alg = cli.write("alg.toml", "[tokens]\nalgorithm = \"none\"\n");
    assert_bad_input(
        &cli.run(&["config", "check", &none_alg]),
        &["tokens.algorithm", "none"],
    );

    let wrong_type = cli.write("type.toml", "[server]\nmax_connections = \"many\"\n");
    assert_bad_input(
        &cli.run(&["config", "check", &wrong_type]),
        &["server.max_connections"],
    );

    let unknown_section = cli.write("section.toml", "[sever]\nlisten = \"127.0.0.1:1\"\n");
    assert_bad_input(&cli.run(&["config", "check", &unknown_section]), &["sever"]);

    let missing = cli.dir.path().join("missing.toml").display().to_string();
    assert_bad_input(&cli.run(&["config", "check", &missing]), &["missing.toml"]);

    // The environment is checked the same way, long and short forms.
    assert_bad_input(
        &cli.run_with(
            &["config", "check"],
            None,
            &[("BOUNCER_SERVER__LISTEN", "nope")],
        ),
        &["server.listen", "nope"],
    );
    assert_bad_input(
        &cli.run_with(&["config", "check"], None, &[("BOUNCER_LISTEN", "nope")]),
        &["server.listen", "nope"],
    );
    assert_bad_input(
        &cli.run_with(
            &["config", "check"],
            None,
            &[("BOUNCER_TOKENS__ALGORITHM", "none")],
        ),
        &["tokens.algorithm", "none"],
    );

    // A bad value stops `serve` before it starts, the same way.
    assert_bad_input(
        &cli.run_with(&["serve"], None, &[("BOUNCER_SERVER__LISTEN", "nope")]),
        &["server.listen", "nope"],
    );
    assert_bad_input(
        &cli.run(&["--config", &none_alg, "serve"]),
        &["tokens.algorithm"],
    );
}

#[test]
fn migrate_is_idempotent() {
    let cli = Cli::new();
    cli.run(&["migrate"]).ok();
    cli.run(&["migrate"]).ok();
    assert!(cli.dir.path().join("cli.db").is_file());
}
