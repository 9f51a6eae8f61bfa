export function Customer() { return <p>…</p>; }
