-- docker-compose.yml: the schema registry's own database beside aval's, as scripts/stack
-- makes it. PostgreSQL's image runs this once, when its data volume is new.
CREATE DATABASE apicurio OWNER aval;
