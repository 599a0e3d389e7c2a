// Shared device code of raster.cu and triwarp.cu (#included; no kernels of its own).
#ifndef FW_RASTER_COMMON
#define FW_RASTER_COMMON
// Exact coverage with the top-left rule, identical to facewarp.kernels.raster (CPU twin):
// edge k runs from vertex k+1 to vertex k+2; E_k(p) = signed_area_2x(v_{k+1}, v_{k+2}, p)
// in double (exact in sign for float32 inputs); inside iff s*E_k > 0 or (== 0 and owned),
// s = sign(area), owned iff d.y < 0 or (d.y == 0 and d.x > 0), d = s * (v_{k+2} - v_{k+1}).

struct FwTri {
    double x[3], y[3];
    double area;
    bool owned[3];
};

__device__ __forceinline__ double fw_edge(const FwTri& T, int k, double px, double py) {
    int a = (k + 1) % 3, b = (k + 2) % 3;
    return (T.x[b] - T.x[a]) * (py - T.y[a]) - (T.y[b] - T.y[a]) * (px - T.x[a]);
}

__device__ __forceinline__ bool fw_load_tri(const double* __restrict__ xy, const int* __restrict__ faces, int t,
                                            int cull, FwTri& T) {
    for (int k = 0; k < 3; ++k) {
        int v = faces[3 * t + k];
        T.x[k] = xy[2 * v];
        T.y[k] = xy[2 * v + 1];
    }
    T.area = (T.x[1] - T.x[0]) * (T.y[2] - T.y[0]) - (T.y[1] - T.y[0]) * (T.x[2] - T.x[0]);
    for (int k = 0; k < 3; ++k)
        if (!(fabs(T.x[k]) < 1e15 && fabs(T.y[k]) < 1e15)) return false;  // NaN/inf: never drawn
    if (T.area == 0.0) return false;
    if ((cull == 1 && T.area > 0) || (cull == 2 && T.area < 0)) return false;
    double s = T.area > 0 ? 1.0 : -1.0;
    for (int k = 0; k < 3; ++k) {
        int a = (k + 1) % 3, b = (k + 2) % 3;
        double dx = s * (T.x[b] - T.x[a]), dy = s * (T.y[b] - T.y[a]);
        T.owned[k] = dy < 0 || (dy == 0 && dx > 0);
    }
    return true;
}

__device__ __forceinline__ bool fw_inside(const FwTri& T, double px, double py) {
    double s = T.area > 0 ? 1.0 : -1.0;
    for (int k = 0; k < 3; ++k) {
        double e = s * fw_edge(T, k, px, py);
        if (e < 0 || (e == 0 && !T.owned[k])) return false;
    }
    return true;
}

// Exact [j0, j1] of covered centres on row i (j1 < j0: none), same steps as the CPU _span.
__device__ __forceinline__ void fw_span(const FwTri& T, int i, int width, int& j0, int& j1) {
    double py = i + 0.5;
    double s = T.area > 0 ? 1.0 : -1.0;
    double lo = -1e300, hi = 1e300;
    for (int k = 0; k < 3; ++k) {
        int a = (k + 1) % 3, b = (k + 2) % 3;
        double alpha = -s * (T.y[b] - T.y[a]);
        double beta = s * ((T.x[b] - T.x[a]) * (py - T.y[a]) + (T.y[b] - T.y[a]) * T.x[a]);
        if (alpha > 0) lo = fmax(lo, -beta / alpha);
        else if (alpha < 0) hi = fmin(hi, -beta / alpha);
        else if (beta < 0) { j0 = 0; j1 = -1; return; }
    }
    j0 = max(0, (int)ceil(fmax(lo, -1.0) - 0.5) - 1);
    j1 = min(width - 1, (int)floor(fmin(hi, width + 1.0) - 0.5) + 1);
    while (j0 <= j1 && !fw_inside(T, j0 + 0.5, py)) ++j0;
    while (j1 >= j0 && !fw_inside(T, j1 + 0.5, py)) --j1;
}

// Plane of per-vertex values v: value(x, y) = c[0] x + c[1] y + c[2] (the CPU _planes).
__device__ __forceinline__ void fw_plane(const FwTri& T, double v0, double v1, double v2, double* c) {
    double inv = 1.0 / T.area;
    double v[3] = {v0, v1, v2};
    c[0] = c[1] = c[2] = 0.0;
    for (int e = 0; e < 3; ++e) {
        int a = (e + 1) % 3, b = (e + 2) % 3;
        double dx = T.x[b] - T.x[a], dy = T.y[b] - T.y[a];
        c[0] += (-dy * inv) * v[e];
        c[1] += (dx * inv) * v[e];
        c[2] += ((dy * T.x[a] - dx * T.y[a]) * inv) * v[e];
    }
}

// Row range of a triangle inside the frame; false when it cannot cover any centre.
__device__ __forceinline__ bool fw_rows(const FwTri& T, int width, int height, int& r0, int& r1) {
    double ymin = fmin(T.y[0], fmin(T.y[1], T.y[2])), ymax = fmax(T.y[0], fmax(T.y[1], T.y[2]));
    double xmin = fmin(T.x[0], fmin(T.x[1], T.x[2])), xmax = fmax(T.x[0], fmax(T.x[1], T.x[2]));
    if (!(xmax >= 0.5 && xmin <= width - 0.5 && ymax >= 0.5 && ymin <= height - 0.5)) return false;
    r0 = max(0, (int)ceil(fmax(ymin, -1.0) - 0.5));  // clamp before the int conversion
    r1 = min(height - 1, (int)floor(fmin(ymax, height + 1.0) - 0.5));
    return r1 >= r0;
}

#define FW_ROWS_PER_THREAD 8

#endif  // FW_RASTER_COMMON
