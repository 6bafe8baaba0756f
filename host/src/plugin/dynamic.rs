//! Dynamic calls: any export by name, with component values or WAVE text,
//! checked against its type before the call.

use wasmtime::component::Val;

use super::checkout::Source;
use super::{Export, Plugin, exports};
use crate::{Error, Result};

impl Plugin {
    /// Calls any export by name with component-model values.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchExport`] listing what exists,
    /// [`Error::BadArguments`] when `args` do not fit, or the trap or limit
    /// the call hit.
    pub async fn call(&self, export: &str, args: &[Val]) -> Result<Vec<Val>> {
        let export = self.checked_export(export, args)?;
        self.call_checked(export, args).await
    }

    /// The export `name`, if `args` fit its parameters.
    pub(crate) fn checked_export(&self, name: &str, args: &[Val]) -> Result<&Export> {
        let export = self.export(name)?;
        self.carried(export)?;
        if args.len() != export.ty.params().len() {
            return Err(self.bad_arguments(export, exports::arity_message(export, args.len())));
        }
        for ((name, ty), arg) in export.ty.params().zip(args) {
            if !exports::fits(arg, &ty) {
                let expected = wasmtime::component::wasm_wave::wasm::DisplayType(&ty);
                return Err(
                    self.bad_arguments(export, format!("argument `{name}` is not a {expected}"))
                );
            }
        }
        Ok(export)
    }

    /// Calls `export` with arguments already checked against its type.
    async fn call_checked(&self, export: &Export, args: &[Val]) -> Result<Vec<Val>> {
        self.call_in(Source::POOL, export, args).await
    }

    /// Calls any export by name with arguments and results in WAVE, the
    /// text form of component values: `"JP"`, `42`, `[1, 2]`, `some(x)`.
    ///
    /// # Errors
    ///
    /// As for [`Plugin::call`]; an argument that is not valid WAVE for its
    /// parameter's type is [`Error::BadArguments`] naming it.
    pub async fn call_wave(&self, export: &str, args: &[impl AsRef<str>]) -> Result<Vec<String>> {
        if self.is_core_module() {
            return self.call_core_wave(export, args).await;
        }
        let found = self.export(export)?;
        let values = self.parse_args(found, args)?;
        let results = self.call_checked(found, &values).await?;
        results
            .iter()
            .map(|value| {
                wasmtime::component::wasm_wave::to_string(value)
                    .map_err(|err| self.bad_arguments(found, format!("printing the result: {err}")))
            })
            .collect()
    }

    /// Parses WAVE arguments for `export` into values for [`Plugin::call`].
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchExport`], or [`Error::BadArguments`] naming the
    /// argument that does not parse as its parameter's type.
    pub fn parse_wave_args(&self, export: &str, args: &[impl AsRef<str>]) -> Result<Vec<Val>> {
        self.parse_args(self.export(export)?, args)
    }

    fn parse_args(&self, export: &Export, args: &[impl AsRef<str>]) -> Result<Vec<Val>> {
        self.carried(export)?;
        if args.len() != export.ty.params().len() {
            return Err(self.bad_arguments(export, exports::arity_message(export, args.len())));
        }
        export
            .ty
            .params()
            .zip(args)
            .map(|((name, ty), arg)| {
                wasmtime::component::wasm_wave::from_str::<Val>(&ty, arg.as_ref())
                    .map_err(|err| self.bad_arguments(export, format!("argument `{name}`: {err}")))
            })
            .collect()
    }

    /// Finds an export by full name, by `interface#function`, or by a bare
    /// function name that only one exported interface has.
    fn export(&self, name: &str) -> Result<&Export> {
        let exact = self.exports.iter().find(|e| e.name == name);
        let by_suffix = || {
            let mut found = self.exports.iter().filter(|e| exports::export_matches(&e.name, name));
            match (found.next(), found.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        };
        exact.or_else(by_suffix).ok_or_else(|| self.no_such_export(name))
    }

    /// Refuses an export whose values no dynamic call can carry.
    fn carried(&self, export: &Export) -> Result<()> {
        match &export.unsupported {
            None => Ok(()),
            Some(reason) => Err(Error::UnsupportedType {
                plugin: self.name().to_owned(),
                export: export.name.clone(),
                reason: reason.clone(),
            }),
        }
    }

    fn no_such_export(&self, export: &str) -> Error {
        Error::NoSuchExport {
            plugin: self.name().to_owned(),
            export: export.to_owned(),
            available: self.exports.iter().map(|e| e.name.clone()).collect(),
        }
    }

    pub(crate) fn bad_arguments(&self, export: &Export, reason: String) -> Error {
        Error::BadArguments { plugin: self.name().to_owned(), export: export.name.clone(), reason }
    }
}
