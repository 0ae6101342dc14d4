//! Feature routers, described for OpenAPI in debug builds and lean in release.
//!
//! Describing every route (utoipa's operations and schemas, built at start-up) is
//! about a megabyte of machine code. A debug build (the tests, the contract check)
//! builds the description live, and a test keeps `crates/ctrl-api/openapi.json`
//! equal to it; a release build routes the same handlers without describing them
//! and serves that file. [`routes!`](crate::routes) and [`ApiRouter`] are the one
//! spelling for both: the path and methods still come from each handler's
//! `#[utoipa::path]`, so a route cannot be registered differently from its description.

use axum::Router;
use axum::routing::MethodRouter;

/// A feature's routes with their description (debug builds).
#[cfg(debug_assertions)]
pub type ApiRouter<S = ()> = utoipa_axum::router::OpenApiRouter<S>;

/// A feature's routes, undescribed (release builds).
#[cfg(not(debug_assertions))]
pub type ApiRouter<S = ()> = LeanRouter<S>;

/// Routes with no description: axum's router behind the few methods the features use.
#[derive(Debug)]
pub struct LeanRouter<S = ()>(Router<S>);

impl<S: Clone + Send + Sync + 'static> Default for LeanRouter<S> {
    fn default() -> Self {
        LeanRouter(Router::new())
    }
}

impl<S: Clone + Send + Sync + 'static> LeanRouter<S> {
    /// No routes yet.
    pub fn new() -> Self {
        LeanRouter::default()
    }

    /// Adds the handlers of [`routes!`](crate::routes): one path, its methods.
    pub fn routes(self, (path, methods): (String, MethodRouter<S>)) -> Self {
        LeanRouter(self.0.route(&path, methods))
    }

    /// Adds an undescribed route.
    pub fn route(self, path: &str, methods: MethodRouter<S>) -> Self {
        LeanRouter(self.0.route(path, methods))
    }

    /// Takes in another feature's routes.
    pub fn merge(self, other: LeanRouter<S>) -> Self {
        LeanRouter(self.0.merge(other.0))
    }

    /// Wraps the routes added so far (a role check, authentication).
    pub fn route_layer<L>(self, layer: L) -> Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Response:
            axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Error:
            Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        LeanRouter(self.0.route_layer(layer))
    }

    /// The router (and no description).
    pub fn split_for_parts(self) -> (Router<S>, ()) {
        (self.0, ())
    }
}

/// The handlers of one path as a router part: described (debug builds) or not
/// (release builds); `routes!(list, create)`, handlers named by path as usual.
#[cfg(debug_assertions)]
#[macro_export]
macro_rules! routes {
    ( $($t:tt)* ) => { ::utoipa_axum::routes!( $($t)* ) };
}

/// The handlers of one path as a router part: described (debug builds) or not
/// (release builds); `routes!(list, create)`, handlers named by path as usual.
#[cfg(not(debug_assertions))]
#[macro_export]
macro_rules! routes {
    ( $($t:tt)* ) => { $crate::lean_routes!( $($t)* ) };
}

/// [`routes!`](crate::routes) without the description: the path and methods
/// each handler's `#[utoipa::path]` declares, and the handlers.
#[macro_export]
macro_rules! lean_routes {
    ( $($handler:ident)::+ $(, $($tail:ident)::+ )* $(,)? ) => {{
        use ::utoipa_axum::PathItemExt as _;
        let path: String = ::utoipa_axum::routes!( @path [path()] of $($handler)::+ );
        let methods = ::utoipa_axum::routes!( @path [methods()] of $($handler)::+ );
        #[allow(unused_mut)]
        let mut router = methods
            .iter()
            .fold(::axum::routing::MethodRouter::new(), |r, m| r.on(m.to_method_filter(), $($handler)::+));
        $(
            let methods = ::utoipa_axum::routes!( @path [methods()] of $($tail)::+ );
            router = methods.iter().fold(router, |r, m| r.on(m.to_method_filter(), $($tail)::+));
        )*
        (path, router)
    }};
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::LeanRouter;

    /// Lists things.
    #[utoipa::path(get, path = "/api/things/{name}")]
    async fn read(axum::extract::Path(name): axum::extract::Path<String>) -> String {
        format!("read {name}")
    }

    /// Changes things.
    #[utoipa::path(post, path = "/api/things/{name}")]
    async fn write() -> &'static str {
        "written"
    }

    /// Removes things.
    #[utoipa::path(delete, path = "/api/things/{name}")]
    async fn remove() -> &'static str {
        "removed"
    }

    async fn call(app: &axum::Router, method: &str) -> (StatusCode, String) {
        let req = Request::builder().method(method).uri("/api/things/a").body(Body::empty()).unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The release router takes each handler's path and method from its
    /// description, merges one path's methods from several routers, and keeps a
    /// layer on the routes it was laid over only.
    #[tokio::test]
    async fn lean_routes_route_as_their_descriptions_say() {
        let guarded = LeanRouter::new().routes(crate::lean_routes!(write, self::remove)).route_layer(
            axum::middleware::from_fn(|_: Request<Body>, _: axum::middleware::Next| async {
                StatusCode::FORBIDDEN
            }),
        );
        let app = LeanRouter::new().routes(crate::lean_routes!(read)).merge(guarded).split_for_parts().0;
        assert_eq!(call(&app, "GET").await, (StatusCode::OK, "read a".into()));
        assert_eq!(call(&app, "POST").await.0, StatusCode::FORBIDDEN);
        assert_eq!(call(&app, "DELETE").await.0, StatusCode::FORBIDDEN);
        assert!(call(&app, "PUT").await.0.is_client_error(), "no handler takes PUT");
    }
}
