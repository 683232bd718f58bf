// Placeholder replaced by the lead's real global setup (embedded Postgres + Temporal dev server).
export default async function setup() {}
