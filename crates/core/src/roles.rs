//! Roles a user holds, and the permissions each grants.

use std::fmt;

/// A role, from least to most trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Reader,
    Commenter,
    Author,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Reader,
        Role::Commenter,
        Role::Author,
        Role::Editor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Commenter => "commenter",
            Role::Author => "author",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or("must be one of reader, commenter, author, editor, admin")
    }

    const fn bit(self) -> u8 {
        match self {
            Role::Reader => 1,
            Role::Commenter => 2,
            Role::Author => 4,
            Role::Editor => 8,
            Role::Admin => 16,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles, stored as a small bit mask.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Roles(u8);

impl Roles {
    /// What a new registration gets: the RealWorld contract lets any user write and comment.
    pub const REGISTERED: Roles =
        Roles(Role::Reader.bit() | Role::Commenter.bit() | Role::Author.bit());

    pub fn of(roles: &[Role]) -> Self {
        Roles(roles.iter().fold(0, |bits, role| bits | role.bit()))
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn with(self, role: Role) -> Self {
        Roles(self.0 | role.bit())
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL
            .into_iter()
            .filter(move |role| self.contains(*role))
    }

    /// The stored form. Unknown bits read back are dropped, never granted.
    pub fn bits(self) -> i64 {
        i64::from(self.0)
    }

    pub fn from_bits(bits: i64) -> Self {
        let known = Role::ALL.iter().fold(0u8, |all, role| all | role.bit());
        Roles((bits & i64::from(known)) as u8)
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_grants_reader_commenter_author() {
        let roles: Vec<_> = Roles::REGISTERED.iter().collect();
        assert_eq!(roles, [Role::Reader, Role::Commenter, Role::Author]);
    }

    #[test]
    fn bits_round_trip_and_unknown_bits_are_dropped() {
        let roles = Roles::of(&[Role::Editor, Role::Reader]);
        assert_eq!(Roles::from_bits(roles.bits()), roles);
        assert_eq!(Roles::from_bits(0xff), Roles::of(&Role::ALL));
        assert_eq!(Roles::from_bits(-1), Roles::of(&Role::ALL));
    }

    #[test]
    fn roles_parse_by_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("root").is_err());
    }
}
