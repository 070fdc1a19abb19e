//! Any input, either format: the parser must not panic, and every sample it keeps must be
//! well formed (valid names, label values within the limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulse_analyzer::parse::{self, Format, MAX_LABEL_VALUE_BYTES};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for format in [Format::Text, Format::OpenMetrics] {
        let parsed = parse::parse(&text, format);
        for sample in &parsed.samples {
            assert!(parse::valid_metric_name(&sample.name));
            for (name, value) in &sample.labels {
                assert!(parse::valid_label_name(name));
                assert!(value.len() <= MAX_LABEL_VALUE_BYTES);
            }
        }
    }
});
