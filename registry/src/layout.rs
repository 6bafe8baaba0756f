//! The CNCF "Wasm OCI artifact" layout, written and read here: an OCI image
//! manifest whose config is `application/vnd.wasm.config.v0+json` and
//! whose one `application/wasm` layer is the plugin, so that `wkg oci
//! pull` and any other client of the layout reads what witplug pushes.
//! The plugin's manifest (`<name>.toml`: its grants, limits and config as
//! its author proposes them) travels as a second layer of witplug's own
//! media type, which other clients ignore; an artifact without it (pushed
//! by another tool) pulls as a plugin with no manifest.

use serde::{Deserialize, Serialize};

use crate::client::sha256_digest;

/// An OCI image manifest.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index (a referrers list, the `sha256-<hex>` tag index).
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The CNCF Wasm config.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// A component or a core module.
pub const WASM_LAYER: &str = "application/wasm";
/// witplug's plugin manifest (`<name>.toml`), as its author proposes it.
pub const PLUGIN_MANIFEST: &str = "application/vnd.witplug.plugin.manifest.v1+toml";
/// The largest plugin manifest layer read.
pub const MAX_PLUGIN_MANIFEST: u64 = 1 << 20;
/// The largest config read.
pub const MAX_CONFIG: u64 = 1 << 20;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Its media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// What an artifact manifest it points to is (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `bytes` as `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: Default::default(),
        }
    }
}

/// An OCI image manifest, as far as this layout reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MANIFEST`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// What the artifact is, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Its config.
    pub config: Descriptor,
    /// Its layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (a signature's subject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// An OCI image index, as far as a referrers list needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// [`INDEX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests it lists.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// The CNCF Wasm config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When it was made (RFC 3339).
    #[serde(default)]
    pub created: String,
    /// `wasm`.
    pub architecture: String,
    /// `wasip2` for a component, `wasip1` for a core module.
    pub os: String,
    /// The digests of the layers, in order.
    #[serde(default)]
    pub layer_digests: Vec<String>,
    /// A component's imports and exports, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentSummary>,
}

/// A component's interface, as the config gives it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ComponentSummary {
    /// What it exports.
    #[serde(default)]
    pub exports: Vec<String>,
    /// What it imports.
    #[serde(default)]
    pub imports: Vec<String>,
}

/// What an artifact holds, once its manifest is read.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The manifest, parsed.
    pub manifest: ImageManifest,
    /// The plugin's layer.
    pub wasm: Descriptor,
    /// The plugin manifest's layer, when it carries one.
    pub plugin_manifest: Option<Descriptor>,
}

/// Reads an artifact's manifest in this layout: exactly one
/// `application/wasm` layer, at most one plugin-manifest layer.
pub fn read(bytes: &[u8]) -> Result<Artifact, String> {
    let manifest: ImageManifest = serde_json::from_slice(bytes).map_err(|err| {
        format!(
            "its manifest is not an OCI image manifest: {}",
            crate::error::one_line(&err.to_string())
        )
    })?;
    if manifest.schema_version != 2 {
        return Err(format!("its manifest has schemaVersion {}, not 2", manifest.schema_version));
    }
    if manifest.config.media_type != WASM_CONFIG {
        return Err(format!(
            "its config is `{}`, not a Wasm artifact's `{WASM_CONFIG}`",
            witplug_host::text::sanitize(&manifest.config.media_type, 128)
        ));
    }
    let wasm: Vec<&Descriptor> =
        manifest.layers.iter().filter(|l| l.media_type == WASM_LAYER).collect();
    let [wasm] = wasm.as_slice() else {
        return Err(format!("it has {} `{WASM_LAYER}` layers, not one", wasm.len()));
    };
    let plugin_manifests: Vec<&Descriptor> =
        manifest.layers.iter().filter(|l| l.media_type == PLUGIN_MANIFEST).collect();
    if plugin_manifests.len() > 1 {
        return Err("it has more than one plugin-manifest layer".to_owned());
    }
    if let Some(layer) = plugin_manifests.first()
        && layer.size > MAX_PLUGIN_MANIFEST
    {
        return Err(format!(
            "its plugin-manifest layer is {} bytes, over {MAX_PLUGIN_MANIFEST}",
            layer.size
        ));
    }
    let wasm = (*wasm).clone();
    let plugin_manifest = plugin_manifests.first().map(|layer| (*layer).clone());
    Ok(Artifact { manifest, wasm, plugin_manifest })
}

/// The bytes of a plugin's artifact: its config and its manifest, to push
/// after the layers they name.
#[derive(Debug)]
pub struct Built {
    /// The config blob.
    pub config: Vec<u8>,
    /// The manifest.
    pub manifest: Vec<u8>,
}

/// Builds the config and manifest of a plugin whose layer is `wasm` (a
/// component when `component` says what it imports and exports, else a
/// core module) and whose manifest layer, if any, is `plugin_manifest`.
pub fn build(
    wasm: &[u8],
    component: Option<ComponentSummary>,
    plugin_manifest: Option<&[u8]>,
    created: String,
) -> Built {
    let mut layers = vec![Descriptor::of(WASM_LAYER, wasm)];
    if let Some(toml) = plugin_manifest {
        layers.push(Descriptor::of(PLUGIN_MANIFEST, toml));
    }
    let config = WasmConfig {
        created,
        architecture: "wasm".to_owned(),
        os: if component.is_some() { "wasip2" } else { "wasip1" }.to_owned(),
        layer_digests: layers.iter().map(|layer| layer.digest.clone()).collect(),
        component,
    };
    let config = serde_json::to_vec(&config).expect("a config serializes");
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST.to_owned()),
        artifact_type: None,
        config: Descriptor::of(WASM_CONFIG, &config),
        layers,
        subject: None,
        annotations: Default::default(),
    };
    Built { config, manifest: serde_json::to_vec(&manifest).expect("a manifest serializes") }
}

/// Now, in RFC 3339 (UTC, whole seconds).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_artifact_reads_back() {
        let built = build(
            b"\0asm\x0d\0\x01\0",
            Some(ComponentSummary::default()),
            Some(b"[grants]\n"),
            now_rfc3339(),
        );
        let artifact = read(&built.manifest).unwrap();
        assert_eq!(artifact.wasm.size, 8);
        assert!(artifact.plugin_manifest.is_some());
        let config: WasmConfig = serde_json::from_slice(&built.config).unwrap();
        assert_eq!((config.os.as_str(), config.layer_digests.len()), ("wasip2", 2));
    }

    #[test]
    fn an_artifact_of_another_kind_is_refused() {
        let built = build(b"x", None, None, String::new());
        let mut manifest: ImageManifest = serde_json::from_slice(&built.manifest).unwrap();
        manifest.layers.push(manifest.layers[0].clone());
        let err = read(&serde_json::to_vec(&manifest).unwrap()).unwrap_err();
        assert!(err.contains("2 `application/wasm` layers"), "{err}");
        manifest.config.media_type = "application/vnd.oci.image.config.v1+json".into();
        assert!(read(&serde_json::to_vec(&manifest).unwrap()).unwrap_err().contains("not a Wasm"));
    }

    #[test]
    fn dates_are_rfc3339() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'));
    }
}
