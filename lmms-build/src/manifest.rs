//! The manifest: the crate's operations and modules as JSON, for documentation and
//! deployment tools.

use crate::scan::{Module, Operation};
use serde_json::{json, Value};

pub fn manifest(krate: &str, operations: &[Operation], modules: &[Module]) -> Value {
    json!({
        "crate": krate,
        "operations": operations.iter().map(|op| {
            let module_name = op.module.as_ref().and_then(|ty| {
                let ident = ty.rsplit("::").next().unwrap_or(ty);
                modules.iter().find(|module| module.ident == ident).map(|module| module.name.clone())
            });
            json!({
                "interface": op.interface,
                "name": op.name,
                "module": op.module,
                "module_name": module_name,
                "class": op.class,
                "cache_ttl_ms": op.cache_ttl_ms,
                "signature": op.signature,
                "async": op.is_async,
                "file": op.file,
                "line": op.line,
            })
        }).collect::<Vec<_>>(),
        "modules": modules.iter().map(|module| json!({
            "type": module.ident,
            "name": module.name,
            "class": module.class,
            "file": module.file,
            "line": module.line,
        })).collect::<Vec<_>>(),
    })
}
