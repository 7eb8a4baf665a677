//! Durations (`10s`, `1m30s`, `500ms`, bare seconds) and sizes (`64MiB`,
//! `1GB`, bare bytes) as the config spells them.
