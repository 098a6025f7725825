# lrpe report plot; re-run in this folder with: gnuplot final.gp (writes final.png and final.svg)
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 900,550 noenhanced font 'Sans,10'
} else {
    set terminal png size 900,550 noenhanced
}
set output 'final.png'
set title 'textcls-listops: final test accuracy per variant' . "\n" . 'point: mean over the completed seeds; bars: its 95% CI (Student t), none where n=1'
set xlabel 'variant'
set ylabel 'test accuracy (%) (higher is better)'
set grid lw 0.5 lc rgb '#dddddd'
set border lw 1
unset key
set xrange [0.5:10.5]
set offsets 0, 0, graph 0.05, graph 0.05
set xtics rotate by -20 left nomirror
set bmargin 8
plot 'final.dat' using 1:2:3:4:xticlabels(6) with yerrorbars pt 7 ps 1.5 lw 2 lc rgb '#0072b2' notitle
set terminal svg size 900,550 noenhanced font 'Sans,10' background rgb 'white'
set output 'final.svg'
replot
set output
