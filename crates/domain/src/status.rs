//! Numeric roles and statuses, as new-api stores them.

/// User roles. Ordered: a higher number may do everything a lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Role(pub i32);

impl Role {
    pub const GUEST: Role = Role(0);
    pub const USER: Role = Role(1);
    pub const ADMIN: Role = Role(10);
    pub const ROOT: Role = Role(100);

    /// Roles an admin may assign when creating or editing users.
    pub fn parse(value: i32) -> Option<Role> {
        [Role::USER, Role::ADMIN, Role::ROOT]
            .into_iter()
            .find(|r| r.0 == value)
    }

    pub fn is_admin(self) -> bool {
        self >= Role::ADMIN
    }
}

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $value:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const fn code(self) -> i32 {
                match self { $($name::$variant => $value),+ }
            }

            pub fn from_code(code: i32) -> Option<Self> {
                match code { $($value => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

status_enum!(
    /// User account status.
    UserStatus { Enabled = 1, Banned = 2 }
);
status_enum!(
    /// API key (token) status.
    TokenStatus { Enabled = 1, Disabled = 2, Expired = 3, Exhausted = 4 }
);
status_enum!(
    /// Channel status: 2 is disabled by an admin, 3 by the gateway after upstream failures.
    ChannelStatus { Enabled = 1, ManuallyDisabled = 2, AutoDisabled = 3 }
);
status_enum!(
    /// Redemption code status.
    RedemptionStatus { Unused = 1, Disabled = 2, Used = 3 }
);
status_enum!(
    /// Log row types (DECISIONS.md "Money").
    LogType { TopUp = 1, Consume = 2, Manage = 3, System = 4, Error = 5, Refund = 6 }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parsed() {
        assert!(Role::ROOT > Role::ADMIN && Role::ADMIN > Role::USER);
        assert!(Role::ADMIN.is_admin() && !Role::USER.is_admin());
        assert_eq!(Role::parse(10), Some(Role::ADMIN));
        assert_eq!(Role::parse(5), None);
        assert_eq!(Role::parse(0), None);
    }

    #[test]
    fn status_codes_round_trip() {
        for s in [
            ChannelStatus::Enabled,
            ChannelStatus::ManuallyDisabled,
            ChannelStatus::AutoDisabled,
        ] {
            assert_eq!(ChannelStatus::from_code(s.code()), Some(s));
        }
        assert_eq!(UserStatus::from_code(3), None);
        assert_eq!(LogType::Refund.code(), 6);
    }
}
