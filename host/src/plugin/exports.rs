//! Exports as dynamic calls see them: names, signatures, WAVE arguments.

use wasmtime::Engine;

use crate::name::Name;
use wasmtime::component::Type;
use wasmtime::component::wasm_wave::wasm::DisplayType;
use wasmtime::component::{
    Component, ComponentExportIndex, Val, types::ComponentFunc, types::ComponentItem,
};

/// An exported function of a plugin, as a dynamic call names it.
#[derive(Debug, Clone)]
pub struct Export {
    /// The name to call it by: `greet` for a function the world exports
    /// directly, `witplug:plugin/guest@0.2.0#handle` for one in an
    /// exported interface. A bare `handle` also finds the latter when only
    /// one interface exports a `handle`.
    pub name: String,
    /// Its WIT signature, e.g. `func(name: string) -> string`.
    pub signature: String,
    pub(crate) ty: ComponentFunc,
    pub(crate) index: ComponentExportIndex,
    /// The name, shared, for events.
    pub(crate) label: Name,
    /// Which of its parameters or results holds a value a dynamic call
    /// cannot carry (a resource, a stream, a future...), if one does.
    pub(crate) unsupported: Option<String>,
}

/// Every function a component exports, directly or in an exported interface.
pub(crate) fn list_exports(engine: &Engine, component: &Component) -> Vec<Export> {
    let mut exports = Vec::new();
    for (name, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(ty) => {
                if let Some(index) = component.get_export_index(None, name) {
                    exports.push(Export::new(name.to_owned(), ty, index));
                }
            }
            ComponentItem::ComponentInstance(instance) => {
                let Some(parent) = component.get_export_index(None, name) else { continue };
                for (func_name, func_item) in instance.exports(engine) {
                    let ComponentItem::ComponentFunc(ty) = func_item.ty else { continue };
                    if let Some(index) = component.get_export_index(Some(&parent), func_name) {
                        exports.push(Export::new(format!("{name}#{func_name}"), ty, index));
                    }
                }
            }
            _ => {}
        }
    }
    exports
}

impl Export {
    fn new(name: String, ty: ComponentFunc, index: ComponentExportIndex) -> Self {
        let params: Vec<String> =
            ty.params().map(|(name, ty)| format!("{name}: {}", DisplayType(&ty))).collect();
        let results: Vec<String> = ty.results().map(|ty| DisplayType(&ty).to_string()).collect();
        let signature = match results.as_slice() {
            [] => format!("func({})", params.join(", ")),
            [one] => format!("func({}) -> {one}", params.join(", ")),
            many => format!("func({}) -> ({})", params.join(", "), many.join(", ")),
        };
        let param = ty.params().find_map(|(name, ty)| {
            unsupported(&ty).map(|kind| format!("parameter `{name}` holds {kind}"))
        });
        let unsupported = param.or_else(|| {
            ty.results().find_map(|ty| unsupported(&ty).map(|kind| format!("result holds {kind}")))
        });
        Self { label: name.as_str().into(), name, signature, ty, index, unsupported }
    }
}

/// What `ty` holds that no dynamic call can carry, in words: a handle to
/// something living in the instance, or a type WAVE has no text for.
pub(crate) fn unsupported(ty: &Type) -> Option<&'static str> {
    let inner = |ty: Option<Type>| ty.as_ref().and_then(unsupported);
    match ty {
        Type::Own(_) | Type::Borrow(_) => Some("a resource"),
        Type::Stream(_) => Some("a stream"),
        Type::Future(_) => Some("a future"),
        Type::ErrorContext => Some("an error-context"),
        Type::Map(_) => Some("a map"),
        Type::List(list) => unsupported(&list.ty()),
        Type::FixedLengthList(list) => unsupported(&list.ty()),
        Type::Record(record) => record.fields().find_map(|field| unsupported(&field.ty)),
        Type::Tuple(tuple) => tuple.types().find_map(|ty| unsupported(&ty)),
        Type::Variant(variant) => variant.cases().find_map(|case| inner(case.ty)),
        Type::Option(option) => unsupported(&option.ty()),
        Type::Result(result) => inner(result.ok()).or_else(|| inner(result.err())),
        _ => None,
    }
}

/// Whether `wanted` names the export `full` (`ns:pkg/iface@1.0#func`) by
/// its function (`func`) or by interface and function (`iface#func`).
pub(crate) fn export_matches(full: &str, wanted: &str) -> bool {
    let Some((interface, func)) = full.split_once('#') else { return false };
    if wanted == func {
        return true;
    }
    let short = interface.rsplit('/').next().unwrap_or(interface);
    let short = short.split('@').next().unwrap_or(short);
    wanted.split_once('#').is_some_and(|(i, f)| f == func && (i == short || i == interface))
}

/// Roughly how many bytes `value` holds: what strings and lists carry.
pub(crate) fn value_size(value: &Val) -> usize {
    match value {
        Val::String(s) => s.len(),
        Val::List(items) | Val::Tuple(items) => items.iter().map(value_size).sum(),
        Val::Record(fields) => fields.iter().map(|(_, v)| value_size(v)).sum(),
        Val::Variant(_, Some(v))
        | Val::Option(Some(v))
        | Val::Result(Ok(Some(v)) | Err(Some(v))) => value_size(v),
        Val::Bool(_) | Val::U8(_) | Val::S8(_) => 1,
        Val::U16(_) | Val::S16(_) => 2,
        Val::U32(_) | Val::S32(_) | Val::Float32(_) | Val::Char(_) => 4,
        _ => 8,
    }
}

/// Whether `value` is a value of type `ty`, checked as wasmtime will when
/// it lowers it: the same kind at every level, record fields in order by
/// name, cases and flags that the type has. Resources and the other
/// handles are refused before ([`unsupported`]).
pub(crate) fn fits(value: &Val, ty: &Type) -> bool {
    let payload = |value: &Option<Box<Val>>, ty: Option<Type>| match (value, ty) {
        (None, None) => true,
        (Some(value), Some(ty)) => fits(value, &ty),
        _ => false,
    };
    match (value, ty) {
        (Val::Bool(_), Type::Bool)
        | (Val::S8(_), Type::S8)
        | (Val::U8(_), Type::U8)
        | (Val::S16(_), Type::S16)
        | (Val::U16(_), Type::U16)
        | (Val::S32(_), Type::S32)
        | (Val::U32(_), Type::U32)
        | (Val::S64(_), Type::S64)
        | (Val::U64(_), Type::U64)
        | (Val::Float32(_), Type::Float32)
        | (Val::Float64(_), Type::Float64)
        | (Val::Char(_), Type::Char)
        | (Val::String(_), Type::String) => true,
        (Val::List(items), Type::List(list)) => {
            let element = list.ty();
            items.iter().all(|item| fits(item, &element))
        }
        (Val::FixedLengthList(items), Type::FixedLengthList(list)) => {
            let element = list.ty();
            items.len() == list.len() as usize && items.iter().all(|item| fits(item, &element))
        }
        (Val::Record(fields), Type::Record(record)) => {
            fields.len() == record.fields().len()
                && fields
                    .iter()
                    .zip(record.fields())
                    .all(|((name, value), field)| name == field.name && fits(value, &field.ty))
        }
        (Val::Tuple(items), Type::Tuple(tuple)) => {
            items.len() == tuple.types().len()
                && items.iter().zip(tuple.types()).all(|(item, ty)| fits(item, &ty))
        }
        (Val::Variant(name, value), Type::Variant(variant)) => variant
            .cases()
            .find(|case| case.name == name)
            .is_some_and(|case| payload(value, case.ty)),
        (Val::Enum(name), Type::Enum(cases)) => cases.names().any(|case| case == name),
        (Val::Option(None), Type::Option(_)) => true,
        (Val::Option(Some(value)), Type::Option(option)) => fits(value, &option.ty()),
        (Val::Result(Ok(value)), Type::Result(result)) => payload(value, result.ok()),
        (Val::Result(Err(value)), Type::Result(result)) => payload(value, result.err()),
        (Val::Flags(set), Type::Flags(flags)) => {
            set.iter().all(|name| flags.names().any(|flag| flag == name))
        }
        _ => false,
    }
}

pub(crate) fn arity_message(export: &Export, got: usize) -> String {
    let expected = export.ty.params().len();
    let plural = if expected == 1 { "" } else { "s" };
    format!("expects {expected} argument{plural} {}, got {got}", export.signature)
}

#[cfg(test)]
mod tests {
    use super::export_matches;

    #[test]
    fn exports_are_found_by_short_names() {
        let full = "witplug:plugin/guest@0.2.0#handle";
        assert!(export_matches(full, "handle"));
        assert!(export_matches(full, "guest#handle"));
        assert!(export_matches(full, "witplug:plugin/guest@0.2.0#handle"));
        assert!(!export_matches(full, "other#handle"));
        assert!(!export_matches(full, "init"));
        assert!(!export_matches("greet", "greet"));
    }
}
