//! `/debug/pprof/cmdline` with secrets taken out.
//!
//! Go's handler prints `os.Args` as they are. Ours redacts the values of flags that name a
//! secret, because the endpoint answers every loopback client without a token: a token passed as
//! `--admin-token X` would otherwise be one GET away (issue 14). Secrets belong in the
//! environment or a file; this is the safety net for when someone passes one anyway.

/// Replaces the value of every secret-looking flag (`--admin-token X`, `--pprof-token=X`,
/// `--password X`, ...) by `<redacted>`; everything else is kept as given.
pub fn redact(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut redact_next = false;
    for arg in args {
        if redact_next {
            out.push(REDACTED.to_owned());
            redact_next = false;
            continue;
        }
        match flag_name(&arg) {
            Some((name, has_value)) if names_a_secret(name) => {
                if has_value {
                    let flag = arg.split_once('=').map_or(arg.as_str(), |(flag, _)| flag);
                    out.push(format!("{flag}={REDACTED}"));
                } else {
                    out.push(arg);
                    redact_next = true;
                }
            }
            _ => out.push(arg),
        }
    }
    out
}

const REDACTED: &str = "<redacted>";

/// `--name` or `--name=value` (also single-dash): the name, and whether the value is attached.
fn flag_name(arg: &str) -> Option<(&str, bool)> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    if body.is_empty() {
        return None;
    }
    Some(match body.split_once('=') {
        Some((name, _)) => (name, true),
        None => (body, false),
    })
}

/// Flags whose value is a credential. A flag that names a file holding one (`--token-file`,
/// `--demo-keys-file`) carries a path, not the secret, and is left alone.
fn names_a_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if name.ends_with("-file") || name.ends_with("_file") || name.ends_with("-path") {
        return false;
    }
    [
        "token", "secret", "password", "passwd", "api-key", "api_key", "apikey",
    ]
    .iter()
    .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn secret_values_are_redacted_in_both_forms() {
        let got = redact(strings(&[
            "trading-api",
            "--admin-token",
            "s3cret",
            "--pprof-token=abc",
            "--listen",
            "127.0.0.1:8080",
            "--api-key",
            "k",
        ]));
        assert_eq!(
            got,
            strings(&[
                "trading-api",
                "--admin-token",
                "<redacted>",
                "--pprof-token=<redacted>",
                "--listen",
                "127.0.0.1:8080",
                "--api-key",
                "<redacted>",
            ])
        );
    }

    #[test]
    fn paths_to_secret_files_and_ordinary_flags_are_kept() {
        let args = strings(&[
            "market-sim",
            "--keys-file",
            "data/demo-keys.json",
            "--admin-token-file",
            "/run/secrets/admin",
            "--symbols",
            "BTC-USD",
        ]);
        assert_eq!(redact(args.clone()), args);
    }
}
