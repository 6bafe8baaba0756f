//! Shows subscribing: receives `orders.*` messages through `on-message`,
//! keeps a running total, and counts any order that arrives out of sequence.

use witplug_sdk::{Error, Plugin, Result, ResultExt};

#[derive(Default)]
struct Ledger {
    orders: u64,
    total: u64,
    last_seq: u64,
    out_of_order: u64,
}

impl Plugin for Ledger {
    fn on_message(&mut self, _topic: &str, payload: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(payload).invalid_input_with(|_| "not UTF-8")?;
        let (seq, amount) =
            text.split_once(':').ok_or_else(|| Error::invalid_input("expected seq:amount"))?;
        let seq: u64 = seq.parse().invalid_input_with(|_| "bad sequence number")?;
        let amount: u64 = amount.parse().invalid_input_with(|_| "bad amount")?;
        if seq != self.last_seq + 1 {
            self.out_of_order += 1;
        }
        self.last_seq = seq;
        self.orders += 1;
        self.total += amount;
        Ok(())
    }

    /// Any input: reports `orders=N total=T out-of-order=K`.
    fn handle(&mut self, _input: &str) -> Result<String> {
        Ok(format!(
            "orders={} total={} out-of-order={}",
            self.orders, self.total, self.out_of_order
        ))
    }
}

witplug_sdk::export_plugin!(Ledger);
