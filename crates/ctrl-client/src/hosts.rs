//! The hub's hosts: `/api/hosts`.

use ctrl_proto::{Enrolment, HostEvent, HostInfo, NewHost};
use hyper::Method;

use crate::{Client, Error, segment};

impl Client {
    /// `GET /api/hosts`.
    pub async fn hosts(&self) -> Result<Vec<HostInfo>, Error> {
        self.get("/api/hosts").await
    }

    /// `POST /api/hosts`: adds a host; its one-time enrolment token.
    pub async fn add_host(&self, name: &str, expires: Option<&str>) -> Result<Enrolment, Error> {
        let body = NewHost { name: name.to_owned(), expires: expires.map(str::to_owned) };
        self.call(Method::POST, "/api/hosts", Some(&body)).await
    }

    /// `DELETE /api/hosts/{name}`: forgets its key and drops its link.
    pub async fn remove_host(&self, name: &str) -> Result<String, Error> {
        self.call(Method::DELETE, &format!("/api/hosts/{}", segment(name)), None::<&()>).await
    }

    /// `GET /api/hosts/{name}/events`: the newest `limit` events it reported, in order.
    pub async fn host_events(&self, name: &str, limit: u32) -> Result<Vec<HostEvent>, Error> {
        self.get(&format!("/api/hosts/{}/events?limit={limit}", segment(name))).await
    }
}
