declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0-16383) of a key or shard channel, hash tags respected. */
  function calculateSlot(key: string | Buffer): number;
  export default calculateSlot;
}
