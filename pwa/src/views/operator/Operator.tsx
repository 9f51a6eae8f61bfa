export function Operator() { return <p>…</p>; }
