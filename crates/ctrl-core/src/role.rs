//! Who may do what: viewer reads, operator also controls services, admin also
//! manages users, tokens and the config.

use serde::{Deserialize, Serialize};

/// A role, ordered by power: `Viewer < Operator < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything an operator sees.
    Viewer,
    /// Also starts, stops and restarts services (and runs actions).
    Operator,
    /// Also manages users and tokens, reads the audit log and reloads the config.
    Admin,
}

impl Role {
    /// The word used in the API, the store and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses the word back.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Viewer, Role::Operator, Role::Admin].into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_lower_ones() {
        assert!(Role::Admin.allows(Role::Operator) && Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator) && !Role::Operator.allows(Role::Admin));
        for r in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
