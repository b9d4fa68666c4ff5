type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** The error of class `type` that `run` throws; fails the test if it throws nothing or something else. */
export function thrownBy<E extends Error>(type: ErrorClass<E>, run: () => unknown): E {
  try {
    run();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected a ${type.name} to be thrown`);
}

/** The error of class `type` that `promise` rejects with; fails the test if it resolves or rejects otherwise. */
export async function rejectionOf<E extends Error>(type: ErrorClass<E>, promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected a rejection with ${type.name}`);
}
