//! The WIT contract travels inside each published crate that needs it
//! (`guest-sdk/wit`, `host/wit`, `build/wit`): the copies must be `wit/` to the byte.

use std::collections::BTreeMap;
use std::path::Path;

fn wit_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wit"))
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_crates_carry_the_contract_unchanged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let contract = wit_files(&root.join("wit"));
    assert!(contract.contains_key("host.wit"), "{:?}", contract.keys());
    for copy in ["guest-sdk/wit", "host/wit", "build/wit"] {
        assert_eq!(
            wit_files(&root.join(copy)),
            contract,
            "{copy} differs from wit/: run `cp wit/*.wit {copy}/` after changing the contract"
        );
    }
}
