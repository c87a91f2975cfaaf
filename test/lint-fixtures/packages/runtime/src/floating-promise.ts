// A promise nobody awaits: its rejection would be lost.
async function flush(): Promise<void> {}

export function close(): void {
  flush();
}
