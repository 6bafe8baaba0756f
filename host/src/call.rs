//! Where a call comes from: the chain of plugins whose tool calls led to
//! it, and how many times the message it delivers was passed on.

/// The origin of one call into a plugin.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallContext {
    /// The plugins waiting, through `call-tool`, on this call: a plugin
    /// already in the chain would wait for itself.
    pub chain: Vec<String>,
    /// How many plugins passed on the message this call delivers.
    pub hops: u32,
}

impl CallContext {
    /// Whether the call comes straight from the embedder: no plugin waits
    /// on it and it delivers no passed-on message.
    pub fn is_direct(&self) -> bool {
        self.chain.is_empty() && self.hops == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_call_with_no_chain_and_no_hops_is_direct() {
        assert!(CallContext::default().is_direct());
        assert!(!CallContext { hops: 3, ..CallContext::default() }.is_direct());
        assert!(!CallContext { chain: vec!["relay".into()], hops: 0 }.is_direct());
    }
}
