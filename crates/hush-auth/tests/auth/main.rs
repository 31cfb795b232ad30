//! hush's auth methods end to end through a real core (memory storage, real barrier): the
//! core routes each login to the method, issues the token and audits; the tests check what
//! clients see. The Kubernetes tests run an HTTPS TokenReview server and the JWT tests a JWKS
//! server, both started here.

mod approle;
mod helpers;
mod jwt;
mod kubernetes;
mod trait_api;
mod userpass;
