//! One parser for the operator commands' arguments. Each command declares its flags, its options
//! (with what their value must be) and how many words it takes; `--help` anywhere prints its help.
//! Anything else is refused with one line naming it, and exit 2, before anything is read or changed.

use std::process::ExitCode;

use super::fail;

/// What a command accepts.
pub struct Spec {
    pub command: &'static str,
    pub help: &'static str,
    /// Switches without a value, e.g. `--dry-run`.
    pub flags: &'static [&'static str],
    /// Options with a value, each with what the value must be ("a rule name").
    pub options: &'static [(&'static str, &'static str)],
    /// How many words (arguments not starting with `-`) the command takes.
    pub words: usize,
}

impl Spec {
    /// A command that acts through the guard and takes `words` words: `--dry-run` and `--text`.
    pub const fn acting(command: &'static str, help: &'static str, words: usize) -> Spec {
        Spec {
            command,
            help,
            flags: &["--dry-run", "--text"],
            options: &[],
            words,
        }
    }
}

/// A command's arguments, as its [`Spec`] read them.
#[derive(Debug, Default)]
pub struct Parsed {
    flags: Vec<&'static str>,
    values: Vec<(&'static str, String)>,
    pub words: Vec<String>,
}

impl Parsed {
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    /// The option's value; the last one when it was given twice.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `Err(code)`: the help was printed (0), or one line on stderr said what is wrong (2).
pub fn parse(rest: &[String], spec: &Spec) -> Result<Parsed, ExitCode> {
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", spec.help);
        return Err(ExitCode::SUCCESS);
    }
    read(rest, spec).map_err(|e| fail(2, format!("{}: {e}", spec.command)))
}

fn read(rest: &[String], spec: &Spec) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let a = arg.as_str();
        if let Some(flag) = spec.flags.iter().find(|f| **f == a) {
            p.flags.push(flag);
        } else if let Some((name, what)) = spec.options.iter().find(|(n, _)| *n == a) {
            let value = it.next().ok_or_else(|| format!("{name} needs {what}"))?;
            p.values.push((name, value.clone()));
        } else if !a.starts_with('-') && p.words.len() < spec.words {
            p.words.push(a.to_string());
        } else {
            return Err(format!("unexpected argument {a:?}"));
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        command: "try",
        help: "",
        flags: &["--text"],
        options: &[("--rule", "a rule name")],
        words: 1,
    };

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_options_and_words_are_read_and_anything_else_is_named() {
        let p = read(&args(&["w", "--text", "--rule", "a", "--rule", "b"]), &SPEC).unwrap();
        assert!(p.flag("--text"));
        assert_eq!(p.value("--rule"), Some("b"));
        assert_eq!(p.words, ["w"]);
        assert_eq!(
            read(&args(&["--rule"]), &SPEC).unwrap_err(),
            "--rule needs a rule name"
        );
        assert_eq!(
            read(&args(&["w", "x"]), &SPEC).unwrap_err(),
            "unexpected argument \"x\""
        );
        assert_eq!(
            read(&args(&["--json"]), &SPEC).unwrap_err(),
            "unexpected argument \"--json\""
        );
    }
}
