//! axum extractors: a handler's signature says what it needs. [`Principal`] is any authenticated
//! caller (401 without one; `Option<Principal>` for routes that serve both), [`Require<P>`] a
//! caller holding the permission `P`, [`RequireRole<R>`] one that may use the role `R`.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::principal::Principal;
use crate::problem::Refusal;

/// What the layer leaves in the request's extensions.
#[derive(Clone)]
pub(crate) struct Authenticated {
    pub principal: Option<Arc<Principal>>,
    pub realm: Arc<str>,
}

/// A permission as a type: `const NAME` is its name in Bouncer's grammar. Made by
/// [`permission!`](crate::permission!), which checks the name at compile time.
pub trait Permission: Send + Sync + 'static {
    const NAME: &'static str;
}

/// A role as a type; made by [`role!`](crate::role!).
pub trait Role: Send + Sync + 'static {
    const NAME: &'static str;
}

/// Declares a [`Permission`] type: `permission!(pub ItemsWrite, "items:write");`. A name outside
/// Bouncer's grammar (`resource:action`, `resource:*`, `*`) does not compile.
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $vis:vis $name:ident, $permission:literal) => {
        $(#[$meta])*
        #[doc = concat!("The permission `", $permission, "`.")]
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::Permission for $name {
            const NAME: &'static str = $permission;
        }
        const _: () = assert!(
            $crate::is_valid_permission($permission),
            concat!("not a Bouncer permission: ", $permission),
        );
    };
}

/// Declares a [`Role`] type: `role!(pub Admin, "admin");`.
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $vis:vis $name:ident, $role:literal) => {
        $(#[$meta])*
        #[doc = concat!("The role `", $role, "`.")]
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::Role for $name {
            const NAME: &'static str = $role;
        }
        const _: () = assert!(
            $crate::is_valid_role($role),
            concat!("not a role name: ", $role),
        );
    };
}

fn authenticated(parts: &Parts) -> Result<&Authenticated, Refusal> {
    parts.extensions.get::<Authenticated>().ok_or_else(|| {
        tracing::error!(
            path = parts.uri.path(),
            "bouncer-guard: an extractor ran on a route the GuardLayer does not cover"
        );
        Refusal::not_installed()
    })
}

fn required(parts: &Parts) -> Result<(Arc<Principal>, &str), Refusal> {
    let a = authenticated(parts)?;
    match &a.principal {
        Some(p) => Ok((p.clone(), &a.realm)),
        None => Err(Refusal::unauthorized(&a.realm, "authentication required")),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        required(parts).map(|(p, _)| Principal::clone(&p))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(authenticated(parts)?.principal.as_deref().cloned())
    }
}

/// A caller holding the permission `P` (its scope and its rights): 401 without a credential, 403
/// `insufficient_scope` (with its challenge) or `missing_permission` otherwise, `missing`
/// naming `P`. Derefs to the [`Principal`].
pub struct Require<P: Permission> {
    principal: Arc<Principal>,
    _permission: PhantomData<fn() -> P>,
}

impl<P: Permission> Require<P> {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn into_principal(self) -> Arc<Principal> {
        self.principal
    }
}

impl<P: Permission> Deref for Require<P> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<P: Permission> std::fmt::Debug for Require<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Require")
            .field(&P::NAME)
            .field(&self.principal)
            .finish()
    }
}

impl<S: Send + Sync, P: Permission> FromRequestParts<S> for Require<P> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let (principal, realm) = required(parts)?;
        principal.check_permission(P::NAME, realm)?;
        Ok(Require {
            principal,
            _permission: PhantomData,
        })
    }
}

/// A caller that may use the role `R` (it has the role, and a narrowed scope names
/// `role:NAME`): 401 without a credential, 403 `missing_role` or `insufficient_scope`
/// otherwise. Derefs to the [`Principal`].
pub struct RequireRole<R: Role> {
    principal: Arc<Principal>,
    _role: PhantomData<fn() -> R>,
}

impl<R: Role> RequireRole<R> {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn into_principal(self) -> Arc<Principal> {
        self.principal
    }
}

impl<R: Role> Deref for RequireRole<R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<R: Role> std::fmt::Debug for RequireRole<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequireRole")
            .field(&R::NAME)
            .field(&self.principal)
            .finish()
    }
}

impl<S: Send + Sync, R: Role> FromRequestParts<S> for RequireRole<R> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let (principal, realm) = required(parts)?;
        principal.check_roles(&[R::NAME], realm)?;
        Ok(RequireRole {
            principal,
            _role: PhantomData,
        })
    }
}
