export function Inspector() { return <p>…</p>; }
