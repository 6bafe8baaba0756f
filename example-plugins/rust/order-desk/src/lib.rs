//! Shows publishing between plugins: `handle("N")` places N orders, each a
//! message `seq:amount` on `orders.created` for subscribers such as `ledger`.

use witplug_sdk::{Plugin, Result, ResultExt};

#[derive(Default)]
struct OrderDesk {
    next_seq: u64,
}

impl Plugin for OrderDesk {
    fn handle(&mut self, input: &str) -> Result<String> {
        let count: u64 =
            input.trim().parse().invalid_input_with(|_| "expected a number of orders")?;
        for _ in 0..count {
            self.next_seq += 1;
            // Amounts cycle through 1..=100 so totals are easy to check.
            let amount = self.next_seq % 100 + 1;
            witplug_sdk::send_message(
                "orders.created",
                format!("{}:{amount}", self.next_seq).as_bytes(),
            )?;
        }
        Ok(format!("placed {count} orders, {} in all", self.next_seq))
    }
}

witplug_sdk::export_plugin!(OrderDesk);
