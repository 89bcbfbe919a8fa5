-- Each service owns its database (docker compose creates them on first start).
CREATE DATABASE identity;
CREATE DATABASE records;
CREATE DATABASE signaling;
CREATE DATABASE webhooks;
CREATE DATABASE notifications;
