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
    /// The agent's client the call reaches for progress, sampling and
    /// elicitation (contract 0.3), passed on to the tools it calls.
    pub client: Option<crate::mcp::ClientLink>,
}

impl From<crate::mcp::ToolCall> for CallContext {
    /// A call from an agent's front end: no plugin waits on it, and its
    /// plugins reach the call's client.
    fn from(call: crate::mcp::ToolCall) -> Self {
        Self { client: call.client.map(crate::mcp::ClientLink), ..Self::default() }
    }
}

impl CallContext {
    /// Whether the call comes straight from the embedder: no plugin waits
    /// on it and it delivers no passed-on message.
    pub fn is_direct(&self) -> bool {
        self.chain.is_empty() && self.hops == 0 && self.client.is_none()
    }
}

/// A call's origin as a call starts: [`Direct`], or a whole [`CallContext`]
/// for a call from a plugin's tool call or a passed-on message. Generic, so
/// that a direct call carries no context through its future.
pub(crate) trait Origin {
    /// Makes `current`, the origin the instance's last call left, this one.
    fn replace(self, current: &mut CallContext);
}

/// The origin of a call straight from the embedder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Direct;

impl Origin for Direct {
    #[inline]
    fn replace(self, current: &mut CallContext) {
        // Left in place when it is already a direct one (as after another
        // direct call).
        if !current.is_direct() {
            *current = CallContext::default();
        }
    }
}

impl Origin for CallContext {
    #[inline]
    fn replace(self, current: &mut CallContext) {
        *current = self;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_call_with_no_chain_and_no_hops_is_direct() {
        assert!(CallContext::default().is_direct());
        assert!(!CallContext { hops: 3, ..CallContext::default() }.is_direct());
        assert!(!CallContext { chain: vec!["relay".into()], ..CallContext::default() }.is_direct());
    }

    #[test]
    fn a_direct_call_resets_the_origin_another_call_left() {
        let mut current = CallContext { chain: vec!["relay".into()], hops: 2, client: None };
        Direct.replace(&mut current);
        assert!(current.is_direct());
        CallContext { chain: vec!["a".into()], hops: 1, client: None }.replace(&mut current);
        assert_eq!((current.chain, current.hops), (vec!["a".to_owned()], 1));
    }
}
