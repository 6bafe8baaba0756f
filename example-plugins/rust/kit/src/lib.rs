//! The conformance kit's plugin in Rust. `py-kit` (Python) and `js-kit`
//! (JavaScript) answer the same commands the same way, so one set of tests
//! (`tests/all/conformance.rs`) runs against every guest language.
//!
//! `handle` takes `command argument...`:
//! - `count`: counts calls on this instance, answers the count;
//! - `log TEXT`: logs TEXT at info level, answers `logged`;
//! - `config KEY`: answers the configuration value, or `<none>`;
//! - `send TOPIC PAYLOAD`: publishes, answers `sent` or the error as
//!   `tag:value` (`denied:topic:x`);
//! - `tool NAME INPUT`: calls a tool, answers `ok:OUTPUT` or the error as
//!   `tag:value`;
//! - `received`: the messages `on-message` got, as `topic=payload;...`;
//! - `fail TEXT`: returns the error `failed(TEXT)`;
//! - `throw TEXT`: panics with TEXT (an uncaught exception elsewhere);
//! - `spin`: loops for ever; `grow`: allocates without end;
//! - `big N`: answers N bytes.
//!
//! `init` fails with `failed(VALUE)` when the config key `fail-init` is
//! set. It describes a tool for each name its config key `tools` lists
//! (comma-separated), taking a JSON string and answering `NAME:INPUT`; the
//! conformance tests name `kit-echo`.

use witplug_sdk::{Error, Plugin, Result, Tools};

#[derive(Default)]
struct Kit {
    count: u64,
    received: Vec<String>,
}

impl Plugin for Kit {
    fn init(&mut self) -> Result<()> {
        match witplug_sdk::config("fail-init") {
            Some(reason) => Err(Error::failed(reason)),
            None => Ok(()),
        }
    }

    fn handle(&mut self, input: &str) -> Result<String> {
        let (command, rest) = input.split_once(' ').unwrap_or((input, ""));
        let mut args = rest.splitn(2, ' ');
        let mut arg = || args.next().unwrap_or("").to_owned();
        Ok(match command {
            "count" => {
                self.count += 1;
                self.count.to_string()
            }
            "log" => {
                witplug_sdk::log::info!("{rest}");
                "logged".to_owned()
            }
            "config" => witplug_sdk::config(rest).unwrap_or_else(|| "<none>".to_owned()),
            "send" => {
                let (topic, payload) = (arg(), arg());
                match witplug_sdk::send_message(&topic, payload.as_bytes()) {
                    Ok(()) => "sent".to_owned(),
                    Err(err) => tagged(&err),
                }
            }
            "tool" => {
                let (name, input) = (arg(), arg());
                match witplug_sdk::call_tool(&name, &input) {
                    Ok(output) => format!("ok:{output}"),
                    Err(err) => tagged(&err),
                }
            }
            "received" => self.received.join(";"),
            "fail" => return Err(Error::failed(rest)),
            "throw" => panic!("{rest}"),
            "spin" => loop {
                std::hint::black_box(&mut self.count);
            },
            "grow" => {
                let mut blocks = Vec::new();
                loop {
                    blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "big" => "x".repeat(rest.parse().map_err(|_| Error::invalid_input("big N"))?),
            other => return Err(Error::invalid_input(format!("unknown command `{other}`"))),
        })
    }

    fn on_message(&mut self, topic: &str, payload: &[u8]) -> Result<()> {
        self.received.push(format!("{topic}={}", String::from_utf8_lossy(payload)));
        Ok(())
    }

    fn tools() -> Tools<Self> {
        let names = witplug_sdk::config("tools").unwrap_or_default();
        let names = names.split(',').map(str::trim).filter(|name| !name.is_empty());
        names.fold(Tools::new(), |tools, name| {
            let tag = name.to_owned();
            tools
                .tool(
                    name,
                    "Answers its input after its own name",
                    move |_: &mut Self, input: String| Ok(format!("{tag}:{input}")),
                )
                .read_only()
        })
    }
}

/// An error the host returned, as `tag:value`.
fn tagged(err: &Error) -> String {
    let tag = match err {
        Error::InvalidInput(_) => "invalid-input",
        Error::Denied(_) => "denied",
        Error::NotFound(_) => "not-found",
        Error::LimitExceeded(_) => "limit-exceeded",
        Error::Failed(_) => "failed",
    };
    format!("{tag}:{}", err.message())
}

witplug_sdk::export_plugin!(Kit);
