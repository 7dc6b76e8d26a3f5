//! A small command-line parser: positional arguments and `--name value` / `--flag` options.

use std::collections::HashMap;

/// Parsed arguments of one subcommand.
pub struct Args {
    pub positional: Vec<String>,
    options: HashMap<String, Option<String>>,
}

const FLAGS: &[&str] = &["quick"];

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut positional = Vec::new();
        let mut options = HashMap::new();
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                let (name, inline) = match name.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (name.to_string(), None),
                };
                let value = if FLAGS.contains(&name.as_str()) {
                    None
                } else {
                    match inline {
                        Some(v) => Some(v),
                        None => Some(it.next().ok_or(format!("--{name} needs a value"))?.clone()),
                    }
                };
                options.insert(name, value);
            } else {
                positional.push(a.clone());
            }
        }
        Ok(Args {
            positional,
            options,
        })
    }

    pub fn flag(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(|v| v.as_deref())
    }

    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.value(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: not a number: {v}")),
        }
    }

    /// Rejects options this subcommand does not know.
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        for k in self.options.keys() {
            if !known.contains(&k.as_str()) {
                return Err(format!("unknown option --{k}"));
            }
        }
        Ok(())
    }
}
