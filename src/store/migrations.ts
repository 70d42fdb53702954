// Schema migrations, applied in order. PRAGMA user_version holds how many have run. Never edit
// or reorder a shipped migration: append a new one.
//
// Addresses are stored as canonical text (ipam's `text`), so equal addresses compare equal.
// JSON columns hold objects the store serialises; the tables are STRICT so a wrong type fails loudly.
/** How many rows of the change log are kept (migration 3 says it in SQL). */
export const CHANGES_KEPT = 10_000;

export const MIGRATIONS: readonly string[] = [
  // 1: networks, address allocations, containers, endpoints, published ports.
  `
  CREATE TABLE networks (
    id          TEXT PRIMARY KEY,              -- 64 hex
    name        TEXT NOT NULL UNIQUE,
    driver      TEXT NOT NULL,
    scope       TEXT NOT NULL,
    created     TEXT NOT NULL,                 -- ISO 8601
    options     TEXT NOT NULL,                 -- JSON {key: value}
    labels      TEXT NOT NULL,                 -- JSON {key: value}
    internal    INTEGER NOT NULL CHECK (internal IN (0, 1)),
    attachable  INTEGER NOT NULL CHECK (attachable IN (0, 1)),
    ipv6        INTEGER NOT NULL CHECK (ipv6 IN (0, 1)),
    interface   TEXT,                          -- bridge / interface name, NULL when none
    subnets     TEXT NOT NULL                  -- JSON SubnetConfig[], IPv4 first
  ) STRICT;

  CREATE TABLE allocations (
    network_id  TEXT NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    subnet      TEXT NOT NULL,                 -- canonical CIDR of one of the network's subnets
    address     TEXT NOT NULL,
    owner       TEXT NOT NULL,                 -- endpoint id, 'gateway' or 'aux:NAME'
    PRIMARY KEY (network_id, address)
  ) STRICT;
  CREATE INDEX allocations_by_owner ON allocations (owner);

  CREATE TABLE containers (
    id          TEXT PRIMARY KEY,              -- 64 hex
    name        TEXT NOT NULL UNIQUE,
    created     TEXT NOT NULL,
    config      TEXT NOT NULL,                 -- JSON, owned by engine/
    state       TEXT NOT NULL                  -- JSON, owned by engine/
  ) STRICT;

  -- container_id is not a foreign key: CNI endpoints belong to a runtime's container.
  CREATE TABLE endpoints (
    id           TEXT PRIMARY KEY,             -- 64 hex
    network_id   TEXT NOT NULL REFERENCES networks (id),
    container_id TEXT NOT NULL,
    interface    TEXT NOT NULL,                -- name inside the sandbox
    mac          TEXT,
    addresses    TEXT NOT NULL,                -- JSON ["address/prefix"]
    aliases      TEXT NOT NULL,                -- JSON ["alias"]
    UNIQUE (container_id, interface)
  ) STRICT;
  CREATE INDEX endpoints_by_network ON endpoints (network_id);

  -- The primary key catches exact duplicates; reservePort also stops a wildcard host ip from
  -- sharing proto/port with a specific address of its family.
  CREATE TABLE ports (
    proto        TEXT NOT NULL CHECK (proto IN ('tcp', 'udp', 'sctp')),
    host_ip      TEXT NOT NULL,
    host_port    INTEGER NOT NULL CHECK (host_port BETWEEN 1 AND 65535),
    container_id TEXT NOT NULL,
    endpoint_id  TEXT REFERENCES endpoints (id) ON DELETE CASCADE,
    target_ip    TEXT NOT NULL,
    target_port  INTEGER NOT NULL CHECK (target_port BETWEEN 1 AND 65535),
    PRIMARY KEY (proto, host_ip, host_port)
  ) STRICT;
  CREATE INDEX ports_by_port ON ports (proto, host_port);
  CREATE INDEX ports_by_container ON ports (container_id);
  `,
  // 2: driver-owned state of a network (e.g. what a NAT-free bridge took over from its parent NIC),
  //    and each endpoint's claim to the container's default route (Docker 28's GwPriority).
  `
  ALTER TABLE networks ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE endpoints ADD COLUMN gw_priority INTEGER NOT NULL DEFAULT 0;
  `,
  // 3: a log of which container, endpoint (by its container) and network rows changed, written by
  //    triggers so every process's writes land in it: the daemon's sweeps (DNS table, container
  //    watch, reconcile) read what changed since their last look instead of decoding every record
  //    (issue 16: at 1000 containers each command paid several full decodes). Old rows are pruned
  //    by the insert trigger; a reader that fell behind the kept window reads everything again.
  `
  CREATE TABLE changes (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  TEXT NOT NULL CHECK (kind IN ('container', 'endpoint', 'network')),
    id    TEXT NOT NULL                      -- container id (for an endpoint: its container's), network id
  ) STRICT;
  CREATE TRIGGER changes_prune AFTER INSERT ON changes BEGIN
    DELETE FROM changes WHERE seq <= NEW.seq - 10000; -- CHANGES_KEPT
  END;
  CREATE TRIGGER containers_insert AFTER INSERT ON containers BEGIN INSERT INTO changes (kind, id) VALUES ('container', NEW.id); END;
  CREATE TRIGGER containers_update AFTER UPDATE ON containers BEGIN INSERT INTO changes (kind, id) VALUES ('container', NEW.id); END;
  CREATE TRIGGER containers_delete AFTER DELETE ON containers BEGIN INSERT INTO changes (kind, id) VALUES ('container', OLD.id); END;
  CREATE TRIGGER endpoints_insert AFTER INSERT ON endpoints BEGIN INSERT INTO changes (kind, id) VALUES ('endpoint', NEW.container_id); END;
  CREATE TRIGGER endpoints_update AFTER UPDATE ON endpoints BEGIN
    INSERT INTO changes (kind, id) VALUES ('endpoint', OLD.container_id);
    INSERT INTO changes (kind, id) SELECT 'endpoint', NEW.container_id WHERE NEW.container_id != OLD.container_id;
  END;
  CREATE TRIGGER endpoints_delete AFTER DELETE ON endpoints BEGIN INSERT INTO changes (kind, id) VALUES ('endpoint', OLD.container_id); END;
  CREATE TRIGGER networks_insert AFTER INSERT ON networks BEGIN INSERT INTO changes (kind, id) VALUES ('network', NEW.id); END;
  CREATE TRIGGER networks_update AFTER UPDATE ON networks BEGIN INSERT INTO changes (kind, id) VALUES ('network', NEW.id); END;
  CREATE TRIGGER networks_delete AFTER DELETE ON networks BEGIN INSERT INTO changes (kind, id) VALUES ('network', OLD.id); END;
  -- an endpoint's ports: its release and the foreign key's cascade no longer scan every port
  CREATE INDEX ports_by_endpoint ON ports (endpoint_id);
  `,
  // 4: host settings kept across runs, e.g. the local copy of the cluster's WireGuard tunnel
  //    subnet, which every render of the firewall's guard rule reads (daemon or not).
  `
  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  `,
];
