"""Versioned schema migrations, applied in order at start (one transaction each).

Append a new string to :data:`MIGRATIONS` to change the schema; never edit one that has
shipped. ``schema_version`` holds the number of migrations applied.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: organisers, conferences, active PINs, participant sessions, daily statistics
    """
    CREATE TABLE organisers (
        id TEXT PRIMARY KEY,               -- 'dev:<email>' or '<issuer>|<sub>'
        email TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        last_login REAL NOT NULL
    );
    CREATE TABLE conferences (
        id TEXT PRIMARY KEY,               -- also the room name
        organiser_id TEXT NOT NULL REFERENCES organisers(id),
        organiser_email TEXT NOT NULL,     -- anonymised some days after the end
        title TEXT NOT NULL,
        starts REAL NOT NULL,              -- UTC epoch seconds
        ends REAL NOT NULL,
        timezone TEXT NOT NULL,
        all_day INTEGER NOT NULL DEFAULT 0,
        max_participants INTEGER NOT NULL,
        access TEXT NOT NULL CHECK (access IN ('public', 'authenticated', 'restricted')),
        osmose_url TEXT,
        resana_url TEXT,
        pin TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled', 'ended')),
        created REAL NOT NULL,
        updated REAL NOT NULL,
        anonymised INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX conferences_organiser ON conferences (organiser_id, starts);
    CREATE INDEX conferences_status_ends ON conferences (status, ends);
    -- the PINs in use: the primary key makes a PIN unique among conferences not yet
    -- expired; the row goes when the conference is cancelled or ends
    CREATE TABLE pins (
        pin TEXT PRIMARY KEY,
        conference_id TEXT NOT NULL UNIQUE REFERENCES conferences(id)
    );
    CREATE TABLE participant_sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conference_id TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        kind TEXT NOT NULL,                -- browser | phone | agent
        role TEXT NOT NULL,
        joined REAL NOT NULL,
        left REAL,
        UNIQUE (conference_id, participant_id)
    );
    CREATE INDEX participant_sessions_open ON participant_sessions (left);
    CREATE TABLE daily_stats (
        day TEXT PRIMARY KEY,              -- YYYY-MM-DD, UTC
        conferences_booked INTEGER NOT NULL DEFAULT 0,
        browser_sessions INTEGER NOT NULL DEFAULT 0,
        phone_sessions INTEGER NOT NULL DEFAULT 0,
        browser_seconds REAL NOT NULL DEFAULT 0,
        phone_seconds REAL NOT NULL DEFAULT 0
    );
    """,
    # 2: the waiting room of a booked conference (issue 12): newcomers who are not
    # moderators wait until a moderator admits them; off by default
    """
    ALTER TABLE conferences ADD COLUMN lobby INTEGER NOT NULL DEFAULT 0;
    """,
)
