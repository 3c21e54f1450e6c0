//! Tenants: `tenant_id` is the UUIDv5 of the tenant name (namespace URL, name
//! `urn:stella-bundle:tenant:<NAME>`), so the same tenant has the same id on every site.

use super::DbError;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub name: String,
    pub id: Uuid,
}

impl Tenant {
    pub fn new(name: &str) -> Self {
        let id = Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("urn:stella-bundle:tenant:{name}").as_bytes(),
        );
        Tenant {
            name: name.to_string(),
            id,
        }
    }

    /// Make sure the tenant row exists (idempotent).
    /// Call it inside the transaction that writes the tenant's first rows, so a failed command
    /// leaves no tenant row behind.
    pub fn ensure(&self, client: &mut impl postgres::GenericClient) -> Result<(), DbError> {
        client
            .execute(
                "INSERT INTO tenant (tenant_id, name) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING",
                &[&self.id, &self.name],
            )
            .map_err(|e| DbError::query("registering the tenant", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tenant_id_is_stable() {
        let a = super::Tenant::new("default");
        assert_eq!(a.id, super::Tenant::new("default").id);
        assert_eq!(a.id.get_version_num(), 5);
        assert_ne!(a.id, super::Tenant::new("other").id);
    }
}
