// Activation functions and derivatives (mlopt_act numbering).
// GLSL has no erf: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
float erf_approx(float v)
{
    float t = 1.0 / (1.0 + 0.3275911 * abs(v));
    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t
                      - 0.284496736) * t + 0.254829592) * t * exp(-v * v);
    return sign(v) * y;
}

float sigmoid(float v) { return 1.0 / (1.0 + exp(-v)); }
// tanh via exp overflows for large |v| on some drivers: clamp first.
float safe_tanh(float v) { return nan_bits(v) ? v : tanh(clamp(v, -15.0, 15.0)); }

float act_f(uint act, float v, float alpha, float beta)
{
    switch (act) {
    case 1u: return v > 0.0 ? v : 0.0; // NaN -> 0, like the reference
    case 2u: return v > 0.0 ? v : alpha * v;
    case 3u: return v > 0.0 ? v : alpha * (exp(v) - 1.0);
    case 4u: return 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752));
    case 5u: return v * sigmoid(v);
    case 6u: return safe_tanh(v);
    case 7u: return sigmoid(v);
    case 8u: return nan_bits(v) ? v : max(0.0, min(1.0, alpha * v + beta)); // NaN stays NaN
    case 9u: return v * max(0.0, min(1.0, v / 6.0 + 0.5));
    default: return v;
    }
}

float act_df(uint act, float v, float alpha, float beta)
{
    switch (act) {
    case 1u: return v > 0.0 ? 1.0 : 0.0;
    case 2u: return v > 0.0 ? 1.0 : alpha;
    case 3u: return v > 0.0 ? 1.0 : alpha * exp(v);
    case 4u: {
        float cdf = 0.5 * (1.0 + erf_approx(v * 0.70710678118654752));
        float pdf = 0.39894228040143268 * exp(-0.5 * v * v);
        return cdf + v * pdf;
    }
    case 5u: { float s = sigmoid(v); return s * (1.0 + v * (1.0 - s)); }
    case 6u: { float t = safe_tanh(v); return 1.0 - t * t; }
    case 7u: { float s = sigmoid(v); return s * (1.0 - s); }
    case 8u: { float u = alpha * v + beta; return (u > 0.0 && u < 1.0) ? alpha : 0.0; }
    case 9u: return v <= -3.0 ? 0.0 : (v < 3.0 ? v / 3.0 + 0.5 : 1.0); // PyTorch kinks
    default: return 1.0;
    }
}
