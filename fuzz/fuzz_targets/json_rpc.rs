//! A request body as `/mcp` and `/v1/tools` decode it: the JSON-RPC message (rmcp's types),
//! then the tool arguments the pipeline reads before any tool runs (`workspace_id`, the
//! shared date-range arguments). Any bytes, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmcp::model::ClientJsonRpcMessage;
use serde_json::Value;
use tollgate::model::DateRange;
use tollgate::tools::{self, RangeArgs};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ClientJsonRpcMessage>(data);
    let Ok(args) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = tools::workspace_arg(&args);
    if let Ok(range) = tools::parse_args::<RangeArgs>(&args) {
        let _ = DateRange::parse(range.start_date.as_deref(), range.end_date.as_deref(), 20_000);
    }
});
