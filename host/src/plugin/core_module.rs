//! Calls into core module plugins: numbers in and out, and their memory.

use wasmtime::{Val, ValType};

use super::checkout::Source;
use super::{CoreExport, Plugin};
use crate::compile::code::Wasm;
use crate::tools::call_chain::Direct;
use crate::{Error, Result};

impl Plugin {
    /// Calls a function a core module exports, with wasm numbers.
    ///
    /// ```no_run
    /// # async fn run(plugin: &witplug_host::Plugin) -> witplug_host::Result<()> {
    /// use witplug_host::plugin::CoreVal;
    /// let sum = plugin.call_core("add", &[CoreVal::I32(10), CoreVal::I32(20)]).await?;
    /// assert_eq!(sum[0].i32(), Some(30));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchExport`] listing the module's functions,
    /// [`Error::BadArguments`] when the numbers do not fit the parameters,
    /// and the trap or limit the call hit.
    pub async fn call_core(&self, export: &str, args: &[Val]) -> Result<Vec<Val>> {
        let export = self.core_export(export)?;
        let params: Vec<ValType> = export.ty.params().collect();
        let fits =
            params.len() == args.len() && params.iter().zip(args).all(|(p, a)| same_type(p, a));
        if !fits {
            let wanted: Vec<String> = params.iter().map(ToString::to_string).collect();
            let given: Vec<String> = args.iter().map(type_name).collect();
            return Err(Error::BadArguments {
                plugin: self.name().to_owned(),
                export: export.name.clone(),
                reason: format!("expects ({}), got ({})", wanted.join(", "), given.join(", ")),
            });
        }
        self.call_core_in(Source::POOL, export, args).await
    }

    /// [`Plugin::call_core`] with arguments and results in WAVE (`10`, `2.5`).
    pub(crate) async fn call_core_wave(
        &self,
        export: &str,
        args: &[impl AsRef<str>],
    ) -> Result<Vec<String>> {
        let ty = &self.core_export(export)?.ty;
        if let Some(at) = ty.results().position(|result| result.is_ref()) {
            return Err(Error::UnsupportedType {
                plugin: self.name().to_owned(),
                export: export.to_owned(),
                reason: format!("result {} is a reference", at + 1),
            });
        }
        let bad = |reason: String| Error::BadArguments {
            plugin: self.name().to_owned(),
            export: export.to_owned(),
            reason,
        };
        if ty.params().len() != args.len() {
            return Err(bad(format!(
                "expects {} arguments, got {}",
                ty.params().len(),
                args.len()
            )));
        }
        let values = ty
            .params()
            .zip(args)
            .enumerate()
            .map(|(i, (param, arg))| {
                wasmtime::component::wasm_wave::from_str::<Val>(&param, arg.as_ref())
                    .map_err(|err| bad(format!("argument {}: {err}", i + 1)))
            })
            .collect::<Result<Vec<_>>>()?;
        let results = self.call_core(export, &values).await?;
        results
            .iter()
            .map(|value| {
                wasmtime::component::wasm_wave::to_string(value)
                    .map_err(|err| bad(format!("printing the result: {err}")))
            })
            .collect()
    }

    /// Reads `len` bytes at `address` in the module's exported `memory`.
    ///
    /// The memory is that of the instance the pool lends this call: with
    /// the default pool of one instance, the plugin's only memory. (In a
    /// `fresh` pool each access sees a new instance.)
    ///
    /// # Errors
    ///
    /// [`Error::MemoryOutOfBounds`] past the end of memory (the plugin keeps
    /// running), [`Error::NoMemory`] when it exports none.
    pub async fn read_memory(&self, address: u64, len: usize) -> Result<Vec<u8>> {
        self.with_memory(&self.labels.memory_read, address, len, |data, range| {
            Ok(data[range].to_vec())
        })
        .await
    }

    /// Writes `bytes` at `address` in the module's exported `memory`.
    ///
    /// # Errors
    ///
    /// As for [`Plugin::read_memory`].
    pub async fn write_memory(&self, address: u64, bytes: &[u8]) -> Result<()> {
        self.with_memory(&self.labels.memory_write, address, bytes.len(), |data, range| {
            data[range].copy_from_slice(bytes);
            Ok(())
        })
        .await
    }

    async fn with_memory<T>(
        &self,
        what: &crate::name::Name,
        address: u64,
        len: usize,
        access: impl FnOnce(&mut [u8], std::ops::Range<usize>) -> Result<T>,
    ) -> Result<T> {
        let plugin = self.name().to_owned();
        self.run(
            Source::POOL,
            what,
            false,
            Direct,
            async |live| {
                let Wasm::Module(instance) = &live.instance else {
                    return Ok(Err(Error::NoMemory { plugin: plugin.clone() }));
                };
                let Some(memory) = instance.get_memory(&mut live.store, "memory") else {
                    return Ok(Err(Error::NoMemory { plugin: plugin.clone() }));
                };
                let data = memory.data_mut(&mut live.store);
                let size = data.len() as u64;
                let end = address.checked_add(len as u64).filter(|end| *end <= size);
                let Some(end) = end else {
                    return Ok(Err(Error::MemoryOutOfBounds {
                        plugin: plugin.clone(),
                        address,
                        len: len as u64,
                        size,
                    }));
                };
                Ok(access(data, address as usize..end as usize))
            },
            |result| result,
        )
        .await
    }

    fn core_export(&self, name: &str) -> Result<&CoreExport> {
        self.core_exports.iter().find(|e| e.name == name).ok_or_else(|| Error::NoSuchExport {
            plugin: self.name().to_owned(),
            export: name.to_owned(),
            available: self.core_exports.iter().map(|e| e.name.clone()).collect(),
        })
    }
}

fn same_type(ty: &ValType, value: &Val) -> bool {
    matches!(
        (ty, value),
        (ValType::I32, Val::I32(_))
            | (ValType::I64, Val::I64(_))
            | (ValType::F32, Val::F32(_))
            | (ValType::F64, Val::F64(_))
    )
}

fn type_name(value: &Val) -> String {
    match value {
        Val::I32(_) => "i32",
        Val::I64(_) => "i64",
        Val::F32(_) => "f32",
        Val::F64(_) => "f64",
        _ => "a reference or vector",
    }
    .to_owned()
}
