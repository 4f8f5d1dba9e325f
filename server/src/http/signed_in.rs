//! Dashboard pages need a signed-in member. A visitor who is not signed in gets a real HTTP
//! redirect (303) to `/login?next=<the page>`, before any page is rendered, so the sign-in
//! page appears at once, with or without JavaScript. (The pages' own client-side redirect
//! still covers a session that ends while a page is open.)

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use backend::AppState;
use shared::error::AppError;
use tower_sessions::Session;

/// The dashboard's page paths: `/` and everything under these.
const PAGES: [&str; 6] = [
    "/customers",
    "/partners",
    "/payouts",
    "/plans",
    "/events",
    "/settings",
];

fn is_dashboard_page(path: &str) -> bool {
    path == "/"
        || PAGES
            .iter()
            .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
}

/// `/login?next=…` back to `uri` (path and query, percent-encoded as a query value).
pub fn login_url(uri: &Uri) -> String {
    login_url_for(uri.path_and_query().map_or("/", |p| p.as_str()))
}

/// `/login?next=…` back to `target` (a local path, else `/`).
pub fn login_url_for(target: &str) -> String {
    let next = backend::session::local_path(Some(target));
    let encoded: String = next
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/login?next={encoded}")
}

pub async fn require_member(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return next.run(req).await;
    };
    // A session in the partner portal reaches only the portal's server functions.
    if let Some(name) = path.strip_prefix("/rpc/") {
        if !PORTAL_RPCS.contains(&name) && backend::session::in_portal(&session).await == Ok(true) {
            return (
                StatusCode::FORBIDDEN,
                backend::session::PORTAL_ONLY.to_string(),
            )
                .into_response();
        }
        return next.run(req).await;
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    if is_portal_page(&path) {
        return match backend::session::current_partner(&session, &state).await {
            Ok(_) => next.run(req).await,
            Err(AppError::Unauthorized) => Redirect::to(&login_url(req.uri())).into_response(),
            // A team member: the portal is not theirs; their dashboard is.
            Err(AppError::Forbidden(_)) => Redirect::to("/").into_response(),
            Err(_) => next.run(req).await,
        };
    }
    if !is_dashboard_page(&path) {
        return next.run(req).await;
    }
    match backend::session::current(&session, &state).await {
        Ok(_) => next.run(req).await,
        Err(AppError::Unauthorized) => Redirect::to(&login_url(req.uri())).into_response(),
        // A partner user: their part is the portal.
        Err(AppError::Forbidden(_)) => Redirect::to("/partner").into_response(),
        // The database away: let the page say so (it renders its own error).
        Err(_) => next.run(req).await,
    }
}

/// The server functions a session in the partner portal may call: the portal's own, and
/// signing in and out, changing one's password, switching membership and accepting invites.
pub const PORTAL_RPCS: [&str; 12] = [
    "portal_me",
    "portal_home",
    "portal_customers",
    "portal_commissions",
    "portal_statements",
    "portal_profile",
    "change_password",
    "login",
    "logout",
    "switch_org",
    "invite_info",
    "accept_invite",
];

/// The partner portal's pages: `/partner` and everything under it.
pub fn is_portal_page(path: &str) -> bool {
    path == "/partner" || path.starts_with("/partner/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_pages_are_known_and_next_is_encoded() {
        for p in [
            "/",
            "/customers",
            "/customers/c%201",
            "/settings/team",
            "/payouts/pay_1",
        ] {
            assert!(is_dashboard_page(p), "{p}");
        }
        for p in [
            "/login",
            "/signup",
            "/invite/abc",
            "/pkg/app.js",
            "/partnersx",
            "/partner",
            "/partner/customers",
            "/rpc/me",
            "/api/v1/partners",
        ] {
            assert!(!is_dashboard_page(p), "{p}");
        }
        let uri: Uri = "/customers?q=a%20b&after=1".parse().unwrap();
        assert_eq!(
            login_url(&uri),
            "/login?next=/customers%3Fq%3Da%2520b%26after%3D1"
        );
    }
}
