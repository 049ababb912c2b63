// A storage call whose promise never settles must not hold a run up for good:
// one was seen under load (an OPFS progress write that never answered, issue 15).
// `within` settles when `promise` does, or rejects after `ms`; the late
// promise is left to itself (it may still settle later, or never).
export function within(promise, ms) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish in ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
