"""The flows' own tables: one store module per flow, its DDL and its queries, and no rules of the flow."""
