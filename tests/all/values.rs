//! A property test of the dynamic call path: generated component types,
//! each exported by a component that hands its argument back, called with
//! generated values. Every well-typed value comes back whole, given as a
//! `Val` or as WAVE text; a value of another type, or mangled WAVE, is a
//! one-line `BadArguments`, never a panic.
//!
//! Seeded like the fuzz tests: `WITPLUG_FUZZ_SEED` and `WITPLUG_FUZZ_CASES`
//! (components of [`EXPORTS`] types each) run other or more cases.

use wasmtime::component::{Val, wasm_wave};
use witplug_host::{Error, Plugin};

use crate::fuzz::{Rng, cases};

/// Types per generated component (one compile for all of them).
const EXPORTS: usize = 12;

/// Values tried per type.
const VALUES: usize = 6;

/// Seventeen `u64`s before the generated argument: more flat parameters
/// than the canonical ABI passes by value, so the arguments reach the
/// guest in memory, in the same layout the result `tuple<pad, T>` is read
/// from. The guest's whole function is then `return its pointer`: an echo
/// for any type.
const PAD: usize = 17;

/// A generated component-model type.
#[derive(Debug, Clone)]
enum Ty {
    Bool,
    U8,
    S8,
    U16,
    S16,
    U32,
    S32,
    U64,
    S64,
    F32,
    F64,
    Char,
    String,
    List(Box<Ty>),
    Option(Box<Ty>),
    Result(Option<Box<Ty>>, Option<Box<Ty>>),
    Tuple(Vec<Ty>),
    /// The index of its named type, and its fields.
    Record(usize, Vec<Ty>),
    /// The index of its named type, and its cases' payloads.
    Variant(usize, Vec<Option<Ty>>),
    /// The index of its named type, and how many cases.
    Enum(usize, usize),
    /// The index of its named type, and how many flags.
    Flags(usize, usize),
}

/// The types of one component, and the named ones they use, in order.
#[derive(Default)]
struct Types {
    /// `(type ...) (export ...)` pairs: records, variants, enums and flags
    /// are nominal, and an exported function may only use them named.
    named: Vec<String>,
}

impl Types {
    fn generate(&mut self, rng: &mut Rng, depth: usize) -> Ty {
        let leaf = depth == 0 || rng.below(3) == 0;
        if leaf {
            return match rng.below(13) {
                0 => Ty::Bool,
                1 => Ty::U8,
                2 => Ty::S8,
                3 => Ty::U16,
                4 => Ty::S16,
                5 => Ty::U32,
                6 => Ty::S32,
                7 => Ty::U64,
                8 => Ty::S64,
                9 => Ty::F32,
                10 => Ty::F64,
                11 => Ty::Char,
                _ => Ty::String,
            };
        }
        let inner = |types: &mut Self, rng: &mut Rng| types.generate(rng, depth - 1);
        match rng.below(8) {
            0 => Ty::List(Box::new(inner(self, rng))),
            1 => Ty::Option(Box::new(inner(self, rng))),
            2 => {
                let ok = (rng.below(4) != 0).then(|| Box::new(inner(self, rng)));
                let err = (rng.below(4) != 0).then(|| Box::new(inner(self, rng)));
                Ty::Result(ok, err)
            }
            3 => Ty::Tuple((0..1 + rng.below(4)).map(|_| inner(self, rng)).collect()),
            4 => {
                let fields: Vec<Ty> = (0..1 + rng.below(4)).map(|_| inner(self, rng)).collect();
                let body: Vec<String> = fields
                    .iter()
                    .enumerate()
                    .map(|(n, f)| format!("(field \"f{n}\" {f})"))
                    .collect();
                Ty::Record(self.name(&format!("(record {})", body.join(" "))), fields)
            }
            5 => {
                let cases: Vec<Option<Ty>> = (0..1 + rng.below(4))
                    .map(|_| (rng.below(3) != 0).then(|| inner(self, rng)))
                    .collect();
                let body: Vec<String> = cases
                    .iter()
                    .enumerate()
                    .map(|(n, case)| match case {
                        Some(ty) => format!("(case \"c{n}\" {ty})"),
                        None => format!("(case \"c{n}\")"),
                    })
                    .collect();
                Ty::Variant(self.name(&format!("(variant {})", body.join(" "))), cases)
            }
            6 => {
                let cases = 1 + rng.below(5);
                let body: Vec<String> = (0..cases).map(|n| format!("\"c{n}\"")).collect();
                Ty::Enum(self.name(&format!("(enum {})", body.join(" "))), cases)
            }
            _ => {
                let flags = 1 + rng.below(12);
                let body: Vec<String> = (0..flags).map(|n| format!("\"f{n}\"")).collect();
                Ty::Flags(self.name(&format!("(flags {})", body.join(" "))), flags)
            }
        }
    }

    /// Defines and exports a nominal type; its index.
    fn name(&mut self, definition: &str) -> usize {
        let n = self.named.len();
        self.named
            .push(format!("(type $t{n}' {definition}) (export $t{n} \"t{n}\" (type $t{n}'))"));
        n
    }
}

impl std::fmt::Display for Ty {
    /// The type in the component text format.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bool => f.write_str("bool"),
            Self::U8 => f.write_str("u8"),
            Self::S8 => f.write_str("s8"),
            Self::U16 => f.write_str("u16"),
            Self::S16 => f.write_str("s16"),
            Self::U32 => f.write_str("u32"),
            Self::S32 => f.write_str("s32"),
            Self::U64 => f.write_str("u64"),
            Self::S64 => f.write_str("s64"),
            Self::F32 => f.write_str("f32"),
            Self::F64 => f.write_str("f64"),
            Self::Char => f.write_str("char"),
            Self::String => f.write_str("string"),
            Self::List(ty) => write!(f, "(list {ty})"),
            Self::Option(ty) => write!(f, "(option {ty})"),
            Self::Result(ok, err) => {
                f.write_str("(result")?;
                if let Some(ok) = ok {
                    write!(f, " {ok}")?;
                }
                if let Some(err) = err {
                    write!(f, " (error {err})")?;
                }
                f.write_str(")")
            }
            Self::Tuple(items) => {
                f.write_str("(tuple")?;
                for item in items {
                    write!(f, " {item}")?;
                }
                f.write_str(")")
            }
            Self::Record(n, _) | Self::Variant(n, _) | Self::Enum(n, _) | Self::Flags(n, _) => {
                write!(f, "$t{n}")
            }
        }
    }
}

/// Characters a string or char is drawn from: quotes, escapes, controls,
/// invisible and astral ones among them.
const CHARS: &[char] = &[
    'a',
    'Z',
    '0',
    ' ',
    '"',
    '\'',
    '\\',
    '\n',
    '\t',
    '\r',
    '\0',
    '\u{1b}',
    '\u{7f}',
    'é',
    '€',
    '\u{202e}',
    '\u{200b}',
    '\u{feff}',
    '😀',
    '\u{10ffff}',
    '{',
    '}',
    '(',
    ')',
    ',',
    '%',
];

/// A value of `ty`, and its WAVE text written independently of wasm-wave.
fn value(ty: &Ty, rng: &mut Rng) -> (Val, String) {
    let int = |rng: &mut Rng, min: i128, max: i128| -> i128 {
        match rng.below(4) {
            0 => min,
            1 => max,
            2 => 0,
            _ => min + (rng.next() as i128).rem_euclid(max - min + 1),
        }
    };
    match ty {
        Ty::Bool => {
            let b = rng.below(2) == 0;
            (Val::Bool(b), b.to_string())
        }
        Ty::U8 => {
            let n = int(rng, 0, u8::MAX.into()) as u8;
            (Val::U8(n), n.to_string())
        }
        Ty::S8 => {
            let n = int(rng, i8::MIN.into(), i8::MAX.into()) as i8;
            (Val::S8(n), n.to_string())
        }
        Ty::U16 => {
            let n = int(rng, 0, u16::MAX.into()) as u16;
            (Val::U16(n), n.to_string())
        }
        Ty::S16 => {
            let n = int(rng, i16::MIN.into(), i16::MAX.into()) as i16;
            (Val::S16(n), n.to_string())
        }
        Ty::U32 => {
            let n = int(rng, 0, u32::MAX.into()) as u32;
            (Val::U32(n), n.to_string())
        }
        Ty::S32 => {
            let n = int(rng, i32::MIN.into(), i32::MAX.into()) as i32;
            (Val::S32(n), n.to_string())
        }
        Ty::U64 => {
            let n = int(rng, 0, u64::MAX.into()) as u64;
            (Val::U64(n), n.to_string())
        }
        Ty::S64 => {
            let n = int(rng, i64::MIN.into(), i64::MAX.into()) as i64;
            (Val::S64(n), n.to_string())
        }
        Ty::F32 => {
            let x = float(rng);
            (Val::Float32(x as f32), float_text(x as f32 as f64, (x as f32).to_string()))
        }
        Ty::F64 => {
            let x = float(rng);
            (Val::Float64(x), float_text(x, x.to_string()))
        }
        Ty::Char => {
            let c = CHARS[rng.below(CHARS.len())];
            (Val::Char(c), format!("'{}'", escape(c, '\'')))
        }
        Ty::String => {
            let s: String = (0..rng.below(12)).map(|_| CHARS[rng.below(CHARS.len())]).collect();
            let text: String = s.chars().map(|c| escape(c, '"')).collect();
            (Val::String(s), format!("\"{text}\""))
        }
        Ty::List(item) => {
            let (values, texts) = values(item, rng.below(4), rng);
            (Val::List(values), format!("[{}]", texts.join(", ")))
        }
        Ty::Option(inner) => {
            if rng.below(3) == 0 {
                (Val::Option(None), "none".to_owned())
            } else {
                let (v, text) = value(inner, rng);
                (Val::Option(Some(Box::new(v))), format!("some({text})"))
            }
        }
        Ty::Result(ok, err) => {
            let is_ok = rng.below(2) == 0;
            let payload = if is_ok { ok } else { err };
            let (v, text) = match payload {
                Some(ty) => {
                    let (v, text) = value(ty, rng);
                    (Some(Box::new(v)), format!("({text})"))
                }
                None => (None, String::new()),
            };
            if is_ok {
                (Val::Result(Ok(v)), format!("ok{text}"))
            } else {
                (Val::Result(Err(v)), format!("err{text}"))
            }
        }
        Ty::Tuple(items) => {
            let (values, texts): (Vec<_>, Vec<_>) = items.iter().map(|ty| value(ty, rng)).unzip();
            (Val::Tuple(values), format!("({})", texts.join(", ")))
        }
        Ty::Record(_, fields) => {
            let mut values = Vec::new();
            let mut texts = Vec::new();
            for (n, ty) in fields.iter().enumerate() {
                let (v, text) = value(ty, rng);
                values.push((format!("f{n}"), v));
                texts.push(format!("f{n}: {text}"));
            }
            (Val::Record(values), format!("{{{}}}", texts.join(", ")))
        }
        Ty::Variant(_, cases) => {
            let n = rng.below(cases.len());
            match &cases[n] {
                Some(ty) => {
                    let (v, text) = value(ty, rng);
                    (Val::Variant(format!("c{n}"), Some(Box::new(v))), format!("c{n}({text})"))
                }
                None => (Val::Variant(format!("c{n}"), None), format!("c{n}")),
            }
        }
        Ty::Enum(_, cases) => {
            let n = rng.below(*cases);
            (Val::Enum(format!("c{n}")), format!("c{n}"))
        }
        Ty::Flags(_, flags) => {
            let set: Vec<String> =
                (0..*flags).filter(|_| rng.below(2) == 0).map(|n| format!("f{n}")).collect();
            let text = format!("{{{}}}", set.join(", "));
            (Val::Flags(set), text)
        }
    }
}

fn values(ty: &Ty, count: usize, rng: &mut Rng) -> (Vec<Val>, Vec<String>) {
    (0..count).map(|_| value(ty, rng)).unzip()
}

fn float(rng: &mut Rng) -> f64 {
    const SPECIAL: &[f64] = &[0.0, -0.0, 0.5, -1.25, 3.0, 1e-7, 6.02e23, f64::INFINITY];
    match rng.below(5) {
        0 => f64::NAN,
        1 => f64::NEG_INFINITY,
        2 | 3 => SPECIAL[rng.below(SPECIAL.len())],
        _ => (rng.next() as i64 as f64) / 1024.0,
    }
}

/// WAVE spells the floats Rust prints as `NaN` and `inf` as `nan` and
/// `inf`.
fn float_text(x: f64, shown: String) -> String {
    if x.is_nan() {
        "nan".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        shown
    }
}

/// `c` inside a WAVE literal quoted by `quote`.
fn escape(c: char, quote: char) -> String {
    match c {
        '\\' => "\\\\".to_owned(),
        '\n' => "\\n".to_owned(),
        '\t' => "\\t".to_owned(),
        '\r' => "\\r".to_owned(),
        c if c == quote => format!("\\{c}"),
        c if c.is_control() || matches!(c, '\u{202e}' | '\u{200b}' | '\u{feff}') => {
            format!("\\u{{{:x}}}", c as u32)
        }
        c => c.to_string(),
    }
}

/// A component exporting `echo-N: func(pad, x: T) -> tuple<pad, T>` for
/// each of `types`.
fn echo_component(named: &[String], types: &[Ty]) -> String {
    let pad = format!("(tuple{})", " u64".repeat(PAD));
    let mut wat = String::from("(component\n");
    for definition in named {
        wat.push_str(definition);
        wat.push('\n');
    }
    wat.push_str(
        r#"(core module $m
             (memory (export "memory") 1)
             (global $next (mut i32) (i32.const 16))
             (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $at i32)
               ;; A bump allocator: align, take, grow the memory as needed.
               global.get $next
               local.get 2 i32.add i32.const 1 i32.sub
               i32.const 0 local.get 2 i32.sub i32.and
               local.tee $at
               local.get 3 i32.add
               global.set $next
               block $done
                 loop $grow
                   global.get $next
                   memory.size i32.const 16 i32.shl
                   i32.le_u br_if $done
                   i32.const 1 memory.grow
                   i32.const -1 i32.eq
                   if unreachable end
                   br $grow
                 end
               end
               local.get $at)
             (func (export "echo") (param i32) (result i32) local.get 0))
           (core instance $i (instantiate $m))
        "#,
    );
    for (n, ty) in types.iter().enumerate() {
        wat.push_str(&format!(
            "(func $echo{n} (param \"pad\" {pad}) (param \"x\" {ty}) (result (tuple {pad} {ty})) \
               (canon lift (core func $i \"echo\") (memory (core memory $i \"memory\")) \
                 (realloc (core func $i \"realloc\"))))\n\
             (export \"echo-{n}\" (func $echo{n}))\n"
        ));
    }
    wat.push(')');
    wat
}

/// One random change to WAVE text.
fn mangle(text: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    match rng.below(4) {
        0 => chars.truncate(rng.below(chars.len().max(1))),
        1 => {
            let at = rng.below(chars.len() + 1);
            chars.insert(at, CHARS[rng.below(CHARS.len())]);
        }
        2 if !chars.is_empty() => {
            let at = rng.below(chars.len());
            chars.remove(at);
        }
        _ => {
            let at = rng.below(chars.len() + 1);
            let junk = ["(", "[", "{", "some(", "ok(", "99999999999999999999", "'", "\""];
            chars.splice(at..at, junk[rng.below(junk.len())].chars());
        }
    }
    chars.into_iter().collect()
}

fn expect_bad_arguments(err: &Error, what: &str) {
    assert!(matches!(err, Error::BadArguments { .. }), "{what}: {err:?}");
    let message = err.to_string();
    assert!(!message.contains('\n'), "{what}: not one line: {message}");
}

async fn echo(plugin: &Plugin, export: &str, pad: &Val, x: Val) -> witplug_host::Result<Vec<Val>> {
    plugin.call(export, &[pad.clone(), x]).await
}

#[tokio::test]
async fn generated_types_and_values_cross_the_dynamic_call_path_whole() {
    let host = crate::support::builder().build().unwrap();
    let mut rng = Rng::from_env();
    let pad = Val::Tuple((0..PAD as u64).map(|n| Val::U64(n * 0x0101_0101_0101)).collect());
    let pad_text = wasm_wave::to_string(&pad).unwrap();
    let mut calls = 0;
    for component in 0..cases(24) {
        let mut types = Types::default();
        let tys: Vec<Ty> = (0..EXPORTS).map(|_| types.generate(&mut rng, 3)).collect();
        let wat = echo_component(&types.named, &tys);
        let plugin = host
            .load_wat(&format!("echo{component}"), &wat)
            .await
            .unwrap_or_else(|err| panic!("component {component}: {err}\n{wat}"));
        for (n, ty) in tys.iter().enumerate() {
            let export = format!("echo-{n}");
            for _ in 0..VALUES {
                let (x, text) = value(ty, &mut rng);
                let what = format!("component {component}, {export}: {ty:?} = {text}");
                let whole = Val::Tuple(vec![pad.clone(), x.clone()]);

                // As a value.
                let out = echo(&plugin, &export, &pad, x.clone()).await;
                assert_eq!(
                    out.unwrap_or_else(|err| panic!("{what}: {err}")),
                    std::slice::from_ref(&whole)
                );

                // As WAVE text, written here, printed by the host.
                let out = plugin.call_wave(&export, &[pad_text.as_str(), &text]).await;
                let out = out.unwrap_or_else(|err| panic!("{what}: {err}"));
                assert_eq!(out, [wasm_wave::to_string(&whole).unwrap()], "{what}");

                // Mangled text: an answer or a one-line error.
                let mangled = mangle(&text, &mut rng);
                if let Err(err) = plugin.call_wave(&export, &[pad_text.as_str(), &mangled]).await {
                    expect_bad_arguments(&err, &format!("{what}, mangled to {mangled}"));
                }

                // A value of another type: refused, or (same shape) whole.
                let other = &tys[(n + 1 + rng.below(EXPORTS - 1)) % EXPORTS];
                let (y, _) = value(other, &mut rng);
                match echo(&plugin, &export, &pad, y.clone()).await {
                    Ok(out) => assert_eq!(out, [Val::Tuple(vec![pad.clone(), y])], "{what}"),
                    Err(err) => expect_bad_arguments(&err, &format!("{what}, given {other:?}")),
                }
                calls += 4;
            }
        }
    }
    assert_eq!(calls, cases(24) * EXPORTS * VALUES * 4);
}
