//! The admin REST API under `/admin/v1/`, described by an OpenAPI 3 document
//! generated from the handlers and served at `/admin/openapi.json`.
#![forbid(unsafe_code)]
